// Max through the accumulator: the cotangent goes to the elements equal to the max,
// shared among ties, so the pass counts them (cmpf oeq, select 1/0, add) and divides.
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=CLEAN

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @f(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// RAW-LABEL: func.func @f_vjp(%arg0: tensor<3x4xf32>, %arg1: tensor<3xf32>) -> (tensor<3xf32>, tensor<3x4xf32>)
// The forward max.
// RAW:       %[[MAX:[0-9]+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// RAW:         arith.maximumf
// The count of elements equal to the max (starting from the initial value's own match).
// RAW:       arith.cmpf oeq
// RAW:       %[[COUNT:[0-9]+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}}ins(%arg0, %[[MAX]] :
// RAW-NEXT:  ^bb0(%[[IN:[a-z0-9_]+]]: f32, %[[R:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// RAW:         %[[EQ:[0-9]+]] = arith.cmpf oeq, %[[IN]], %[[R]] : f32
// RAW:         %[[ONE_OR_ZERO:[0-9]+]] = arith.select %[[EQ]]
// RAW:         arith.addf %[[ACC]], %[[ONE_OR_ZERO]] : f32
// The adjoint: the cotangent where x equals the max, divided by the count.
// RAW:       linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}}ins(%arg0, %arg1, %[[MAX]], %[[COUNT]] :
// RAW:         arith.cmpf oeq
// RAW:         arith.select
// RAW:         arith.divf
// RAW:       } -> tensor<3x4xf32>
// RAW:       return
// RAW-NOT:   func.func

// CLEAN-LABEL: func.func @f_vjp(
// CLEAN:       %[[MAX:[0-9]+]] = linalg.generic {{.*}}["parallel", "reduction"]
// CLEAN:       %[[COUNT:[0-9]+]] = linalg.generic {{.*}}["parallel", "reduction"]{{.*}}ins(%arg0, %[[MAX]] :
// CLEAN:         arith.cmpf oeq
// CLEAN:       linalg.generic {{.*}}["parallel", "parallel"]{{.*}}ins(%arg0, %arg1, %[[MAX]], %[[COUNT]] :
// CLEAN:         arith.cmpf oeq
// CLEAN:         arith.divf
// CLEAN:       return %[[MAX]], %{{.*}} : tensor<3xf32>, tensor<3x4xf32>
