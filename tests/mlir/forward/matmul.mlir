// matmul is generalized to a generic over (d0, d1, d2) = (i, j, k); its tangent is the
// product rule under the same sum over k: t_c[i, j] = sum_k t_a[i, k] b[k, j] + t_b[k, j] a[i, k],
// each tangent read through its primal's map, summed from zeros (the fill is not active).
// RUN: irgrad-opt %s --jvp f | filecheck %s --check-prefix=BOTH
// RUN: irgrad-opt %s --jvp f --cleanup | filecheck %s --check-prefix=BOTH
// RUN: irgrad-opt %s --jvp f --wrt 1 --cleanup | filecheck %s --check-prefix=ONLY-B

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// BOTH-DAG:   #[[A:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// BOTH-DAG:   #[[B:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// BOTH-DAG:   #[[C:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// BOTH-LABEL: func.func @f_jvp(%arg0: tensor<2x3xf32>, %arg1: tensor<3x4xf32>, %arg2: tensor<2x3xf32>, %arg3: tensor<3x4xf32>)
// BOTH-SAME:      -> (tensor<2x4xf32>, tensor<2x4xf32>)
// BOTH-NOT:   linalg.matmul
// BOTH:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg1 :
// BOTH:       %[[ZERO:[0-9]+]] = linalg.fill
// BOTH:       %[[T:[0-9]+]] = linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "reduction"]}
// BOTH-SAME:      ins(%arg0, %arg1, %arg2, %arg3 : {{.*}}) outs(%[[ZERO]] : tensor<2x4xf32>)
// BOTH-NEXT:  ^bb0(%[[VA:[a-z0-9_]+]]: f32, %[[VB:[a-z0-9_]+]]: f32, %[[TA:[a-z0-9_]+]]: f32, %[[TB:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// BOTH:         %[[P1:[0-9]+]] = arith.mulf %[[TA]], %[[VB]] : f32
// BOTH-NEXT:    %[[P2:[0-9]+]] = arith.mulf %[[TB]], %[[VA]] : f32
// BOTH-NEXT:    %[[P:[0-9]+]] = arith.addf %[[P1]], %[[P2]] : f32
// BOTH-NEXT:    %[[S:[0-9]+]] = arith.addf %[[P]], %[[ACC]] : f32
// BOTH-NEXT:    linalg.yield %[[S]] : f32
// BOTH:       return %[[Y]], %[[T]] : tensor<2x4xf32>, tensor<2x4xf32>

// ONLY-B-LABEL: func.func @f_jvp(%arg0: tensor<2x3xf32>, %arg1: tensor<3x4xf32>, %arg2: tensor<3x4xf32>)
// ONLY-B:       linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg1 :
// ONLY-B:       linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %arg1, %arg2 :
// ONLY-B-NEXT:  ^bb0(%[[VA:[a-z0-9_]+]]: f32, %{{[a-z0-9_]+}}: f32, %[[TB:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// ONLY-B-NEXT:    %[[P:[0-9]+]] = arith.mulf %[[TB]], %[[VA]] : f32
// ONLY-B-NEXT:    %[[S:[0-9]+]] = arith.addf %[[P]], %[[ACC]] : f32
// ONLY-B-NEXT:    linalg.yield %[[S]] : f32
