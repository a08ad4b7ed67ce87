// matmul is generalized to a generic over (d0, d1, d2) = (i, j, k); each operand's
// adjoint reduces over the dimension its map leaves out: A (i, k) over j, B (k, j) over i.
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=RAW

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// RAW-DAG:   #[[A:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// RAW-DAG:   #[[B:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// RAW-DAG:   #[[C:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// RAW-LABEL: func.func @f(
// RAW-NOT:   linalg.matmul
// RAW-LABEL: func.func @f_vjp(
// RAW-NOT:   linalg.matmul
// RAW:       linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "reduction"]}
// RAW:       linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]], #[[A]]], iterator_types = ["parallel", "reduction", "parallel"]}
// RAW:       } -> tensor<2x3xf32>
// RAW:       linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]], #[[B]]], iterator_types = ["reduction", "parallel", "parallel"]}
// RAW:       } -> tensor<3x4xf32>
// RAW:       return
