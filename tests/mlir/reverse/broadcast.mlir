// A broadcast's adjoint is a sum: y is read through (d0, d1) -> (d1), so its
// cotangent comes from a generic that reduces over d0.
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=CLEAN

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @f(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %t = math.tanh %p : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// RAW:       #[[ID:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// RAW:       #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// RAW-LABEL: func.func @f_vjp(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>, %arg2: tensor<2x3xf32>)
// RAW-SAME:      -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>)
// x's adjoint: elementwise, the cotangent %arg2 read through the result's map.
// RAW:       linalg.generic {indexing_maps = [#[[ID]], #[[COL]], #[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// RAW-SAME:      ins(%arg0, %arg1, %arg2 :
// RAW:         math.tanh
// RAW:       } -> tensor<2x3xf32>
// y's adjoint: written through y's map (d1), so d0 becomes a reduction that starts from zero.
// RAW:       %[[ZERO:[0-9]+]] = linalg.fill
// RAW:       linalg.generic {indexing_maps = [#[[ID]], #[[COL]], #[[ID]], #[[COL]]], iterator_types = ["reduction", "parallel"]}
// RAW-SAME:      ins(%arg0, %arg1, %arg2 : {{.*}}) outs(%[[ZERO]] : tensor<3xf32>)
// RAW:         %[[PARTIAL:[0-9]+]] = arith.mulf
// RAW:         %[[SUM:[0-9]+]] = arith.addf %out, %{{[0-9]+}} : f32
// RAW:         linalg.yield %[[SUM]] : f32
// RAW:       } -> tensor<3xf32>
// RAW:       return %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}} : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>

// After cleanup the constants leave the bodies and the reduction survives.
// CLEAN:       #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// CLEAN-LABEL: func.func @f(
// CLEAN-LABEL: func.func @f_vjp(
// CLEAN:         %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CLEAN:         linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CLEAN-NOT:     arith.constant
// CLEAN:         arith.subf %[[ONE]]
// CLEAN:         linalg.generic {indexing_maps = [{{.*}}, #[[COL]]], iterator_types = ["reduction", "parallel"]}
// CLEAN-NOT:     arith.constant
// CLEAN:         arith.addf %out
// CLEAN:       } -> tensor<3xf32>
