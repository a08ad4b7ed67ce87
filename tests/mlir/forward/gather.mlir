// A gather (tensor.extract inside a generic's body, of a tensor defined outside it): the
// tangent is the same gather from the tangent, at the same indices, times cos of the
// gathered value. tensor.extract / tensor.insert outside a generic: the same op on the
// tangents; an inserted scalar without a tangent inserts 0, a destination without one
// is a zero fill.
// RUN: irgrad-opt %s --jvp gather | filecheck %s --check-prefix=GATHER
// RUN: irgrad-opt %s --jvp gather --cleanup | filecheck %s --check-prefix=GATHER
// RUN: irgrad-opt %s --jvp insert | filecheck %s --check-prefix=INSERT
// RUN: irgrad-opt %s --jvp insert --wrt 1 | filecheck %s --check-prefix=INSERT-S
// RUN: irgrad-opt %s --jvp insert --wrt 0 | filecheck %s --check-prefix=INSERT-X

#v = affine_map<(d0) -> (d0)>
func.func @gather(%x: tensor<5xf32>, %idx: tensor<3xi32>) -> tensor<3xf32> {
  %e = tensor.empty() : tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%idx : tensor<3xi32>) outs(%e : tensor<3xf32>) {
  ^bb0(%i: i32, %o: f32):
    %k = arith.index_cast %i : i32 to index
    %g = tensor.extract %x[%k] : tensor<5xf32>
    %s = math.sin %g : f32
    linalg.yield %s : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

func.func @insert(%x: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xf32> {
  %c2 = arith.constant 2 : index
  %v = tensor.extract %s[] : tensor<f32>
  %w = math.exp %v : f32
  %0 = tensor.insert %w into %x[%c2] : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// GATHER-LABEL: func.func @gather_jvp(%arg0: tensor<5xf32>, %arg1: tensor<3xi32>, %arg2: tensor<5xf32>) -> (tensor<3xf32>, tensor<3xf32>)
// GATHER:       %[[Y:[0-9]+]] = linalg.generic {{.*}} ins(%arg1 : tensor<3xi32>)
// GATHER:       %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%arg1 : tensor<3xi32>)
// GATHER-NEXT:  ^bb0(%[[I:[a-z0-9_]+]]: i32, %{{.*}}: f32):
// GATHER-NEXT:    %[[K:[0-9]+]] = arith.index_cast %[[I]] : i32 to index
// GATHER-NEXT:    %[[G:.*]] = tensor.extract %arg0[%[[K]]] : tensor<5xf32>
// GATHER:         %[[TG:.*]] = tensor.extract %arg2[%[[K]]] : tensor<5xf32>
// GATHER-NEXT:    %[[COS:[0-9]+]] = math.cos %[[G]] : f32
// GATHER-NEXT:    %[[TS:[0-9]+]] = arith.mulf %[[TG]], %[[COS]] : f32
// GATHER-NEXT:    linalg.yield %[[TS]] : f32
// GATHER:       return %[[Y]], %[[T]] : tensor<3xf32>, tensor<3xf32>

// INSERT-LABEL: func.func @insert_jvp(%arg0: tensor<4xf32>, %arg1: tensor<f32>, %arg2: tensor<4xf32>, %arg3: tensor<f32>)
// INSERT:       %[[C2:.*]] = arith.constant 2 : index
// INSERT:       %[[V:.*]] = tensor.extract %arg1[] : tensor<f32>
// INSERT:       %[[TV:.*]] = tensor.extract %arg3[] : tensor<f32>
// INSERT:       %[[W:[0-9]+]] = math.exp %[[V]] : f32
// INSERT-NEXT:  %[[TW:[0-9]+]] = arith.mulf %[[TV]], %[[W]] : f32
// INSERT-NEXT:  %[[Y:.*]] = tensor.insert %[[W]] into %arg0[%[[C2]]] : tensor<4xf32>
// INSERT-NEXT:  %[[T:.*]] = tensor.insert %[[TW]] into %arg2[%[[C2]]] : tensor<4xf32>
// INSERT-NEXT:  return %[[Y]], %[[T]] : tensor<4xf32>, tensor<4xf32>

// INSERT-S-LABEL: func.func @insert_jvp(%arg0: tensor<4xf32>, %arg1: tensor<f32>, %arg2: tensor<f32>)
// INSERT-S:       %[[C2:.*]] = arith.constant 2 : index
// INSERT-S:       %[[TV:.*]] = tensor.extract %arg2[] : tensor<f32>
// INSERT-S:       %[[TW:[0-9]+]] = arith.mulf %[[TV]], %{{[0-9]+}} : f32
// INSERT-S:       %[[ZERO:[0-9]+]] = linalg.fill
// INSERT-S-NEXT:  %[[T:.*]] = tensor.insert %[[TW]] into %[[ZERO]][%[[C2]]] : tensor<4xf32>
// INSERT-S-NEXT:  return %{{.*}}, %[[T]] : tensor<4xf32>, tensor<4xf32>

// INSERT-X-LABEL: func.func @insert_jvp(%arg0: tensor<4xf32>, %arg1: tensor<f32>, %arg2: tensor<4xf32>)
// INSERT-X-NOT:   arith.mulf
// INSERT-X:       %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// INSERT-X-NEXT:  %[[T:.*]] = tensor.insert %[[ZERO]] into %arg2[%{{.*}}] : tensor<4xf32>
// INSERT-X-NEXT:  return %{{.*}}, %[[T]] : tensor<4xf32>, tensor<4xf32>
