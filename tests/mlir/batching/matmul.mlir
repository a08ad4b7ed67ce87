// matmul, generalized to a generic over (i, j, k), batches to a batched matmul over
// (b, i, j, k) = (d0, d1, d2, d3): A[b, i, k], B[b, k, j] -> C[b, i, j], summing d3 only.
// An unbatched B (in_axes none) is read through (d3, d2), shared by every example; a B
// batched along its last axis (in_axes 2) is first transposed to tensor<7x3x4xf32>.
// RUN: irgrad-opt %s --vmap f --in-axes 0,none --axis-size 7 | filecheck %s --check-prefix=SHARED-B
// RUN: irgrad-opt %s --vmap f --in-axes 0,2 --axis-size 7 | filecheck %s --check-prefix=LAST-B
// RUN: irgrad-opt %s --vmap f --in-axes 0,2 --axis-size 7 --cleanup | filecheck %s --check-prefix=LAST-B

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// SHARED-B-DAG:   #[[A:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// SHARED-B-DAG:   #[[B:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// SHARED-B-DAG:   #[[C:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// SHARED-B-LABEL: func.func @f_batched(%arg0: tensor<7x2x3xf32>, %arg1: tensor<3x4xf32>) -> tensor<7x2x4xf32>
// SHARED-B:       %[[ZEROS:[0-9]+]] = linalg.generic {{.*}} outs(%{{[0-9]+}} : tensor<7x2x4xf32>)
// SHARED-B:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// SHARED-B-SAME:      ins(%arg0, %arg1 : tensor<7x2x3xf32>, tensor<3x4xf32>) outs(%[[ZEROS]] : tensor<7x2x4xf32>)
// SHARED-B-NEXT:  ^bb0(%[[VA:[a-z0-9_]+]]: f32, %[[VB:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// SHARED-B-NEXT:    %[[P:[0-9]+]] = arith.mulf %[[VA]], %[[VB]] : f32
// SHARED-B-NEXT:    %[[S:[0-9]+]] = arith.addf %[[ACC]], %[[P]] : f32
// SHARED-B-NEXT:    linalg.yield %[[S]] : f32
// SHARED-B:       return %[[Y]] : tensor<7x2x4xf32>

// LAST-B-DAG:   #[[MOVE:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2, d0)>
// LAST-B-DAG:   #[[A:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// LAST-B-DAG:   #[[B:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// LAST-B-DAG:   #[[C:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// LAST-B-LABEL: func.func @f_batched(%arg0: tensor<7x2x3xf32>, %arg1: tensor<3x4x7xf32>) -> tensor<7x2x4xf32>
// LAST-B:       %[[BT:[0-9]+]] = linalg.generic {indexing_maps = [#[[MOVE]], #{{map[0-9]*}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg1 : tensor<3x4x7xf32>) outs(%{{[0-9]+}} : tensor<7x3x4xf32>)
// LAST-B:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// LAST-B-SAME:      ins(%arg0, %[[BT]] : tensor<7x2x3xf32>, tensor<7x3x4xf32>)
// LAST-B:         arith.mulf
// LAST-B:       return %[[Y]] : tensor<7x2x4xf32>
