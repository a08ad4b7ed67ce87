// A product through the accumulator becomes a pairwise tree before it is differentiated
// (passes/products.py): the expression written over the whole domain, then even * odd
// halves by strided slices, the odd one out carried by a concat, then times the init.
// Every derivative is then made of mulf partials, exact with zeros at any order; no
// reduction (and no zero count) is left.
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f | irgrad-opt - --vjp f_vjp --wrt 0 | filecheck %s --check-prefix=TWICE

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @f(%x: tensor<3x5xf32>) -> tensor<3xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// RAW-LABEL: func.func @f_vjp(%arg0: tensor<3x5xf32>, %arg1: tensor<3xf32>) -> (tensor<3xf32>, tensor<3x5xf32>)
// RAW-NOT:   "reduction"
// RAW:       %[[E:[0-9]+]] = linalg.generic {{.*}}["parallel", "parallel"]{{.*}}ins(%arg0 : tensor<3x5xf32>)
// RAW:       tensor.extract_slice %[[E]][0, 0] [3, 2] [1, 2]
// RAW:       tensor.extract_slice %[[E]][0, 1] [3, 2] [1, 2]
// RAW:       arith.mulf
// RAW:       tensor.extract_slice %[[E]][0, 4] [3, 1] [1, 1]
// RAW:       tensor.concat dim(1)
// RAW-NOT:   "reduction"
// RAW:       tensor.insert_slice
// RAW-NOT:   "reduction"
// RAW:       return

// TWICE-LABEL: func.func @f_vjp_vjp(
// TWICE-NOT:   "reduction"
// TWICE:       return
