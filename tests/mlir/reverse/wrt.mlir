// Only the --wrt arguments get cotangents: y (tensor<3xf32>, read through (d1)) is
// left out, so no adjoint generic writes a tensor<3xf32>.
// RUN: irgrad-opt %s --vjp f --wrt 0,2 | filecheck %s --check-prefix=WRT
// RUN: irgrad-opt %s --vjp f --wrt 0,2 --cleanup | filecheck %s --check-prefix=WRT
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=ALL
// RUN: irgrad-opt %s --vjp f --wrt 1 --cleanup | filecheck %s --check-prefix=ONLY-Y

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @f(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %z: tensor<2xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y, %z : tensor<2x3xf32>, tensor<3xf32>, tensor<2xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.mulf %p, %c : f32
    %s = math.sin %q : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// WRT-LABEL: func.func @f_vjp(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>, %arg2: tensor<2xf32>, %arg3: tensor<2x3xf32>)
// WRT-SAME:      -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2xf32>)
// WRT-NOT:   -> tensor<3xf32>
// WRT:       iterator_types = ["parallel", "reduction"]
// WRT-NOT:   -> tensor<3xf32>
// WRT:       } -> tensor<2xf32>
// WRT-NOT:   -> tensor<3xf32>
// WRT:       return

// ALL-LABEL: func.func @f_vjp(
// ALL-SAME:      -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>, tensor<2xf32>)
// ALL:       iterator_types = ["reduction", "parallel"]
// ALL:       } -> tensor<3xf32>
// ALL:       iterator_types = ["parallel", "reduction"]
// ALL:       } -> tensor<2xf32>

// ONLY-Y-LABEL: func.func @f_vjp(
// ONLY-Y-SAME:      -> (tensor<2x3xf32>, tensor<3xf32>)
// ONLY-Y-NOT:   -> tensor<2xf32>
// ONLY-Y:       iterator_types = ["reduction", "parallel"]
// ONLY-Y-NOT:   -> tensor<2xf32>
// ONLY-Y:       return
