// Gathers. In a generic's body (@gather): a batched source is read with linalg.index 0
// (the example) as its first index; batched indices are a batched input, the shared
// source read unchanged. Outside a generic (@extract): x[2, k] of a batched x at a shared
// index is the column x[:, 2, k] (a rank-reducing extract_slice); at a batched index it
// becomes a gather generic over the batch. tensor.insert (@insert) of a batched scalar or
// into a batched x is a rank-reducing insert_slice of the batch's column, the unbatched
// side broadcast. jvp then vmap: the tangent generic's second gather (from the tangent)
// gets the same example index as the primal's.
// RUN: irgrad-opt %s --vmap gather --in-axes 0,none --axis-size 2 | filecheck %s --check-prefix=GATHER-X
// RUN: irgrad-opt %s --vmap gather --in-axes none,0 --axis-size 2 | filecheck %s --check-prefix=GATHER-IDX
// RUN: irgrad-opt %s --jvp gather | irgrad-opt - --vmap gather_jvp --in-axes 0,none,0 --axis-size 2 --cleanup | filecheck %s --check-prefix=JVP-THEN-VMAP
// RUN: irgrad-opt %s --vmap extract --in-axes 0,none --axis-size 2 | filecheck %s --check-prefix=EXTRACT-X
// RUN: irgrad-opt %s --vmap extract --in-axes none,0 --axis-size 2 | filecheck %s --check-prefix=EXTRACT-IDX
// RUN: irgrad-opt %s --vmap extract --in-axes 0,0 --axis-size 2 | filecheck %s --check-prefix=EXTRACT-BOTH
// RUN: irgrad-opt %s --vmap insert --in-axes 0,none --axis-size 2 | filecheck %s --check-prefix=INSERT-X
// RUN: irgrad-opt %s --vmap insert --in-axes none,0 --axis-size 2 | filecheck %s --check-prefix=INSERT-S

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

func.func @extract(%x: tensor<4x6xf32>, %j: tensor<i32>) -> f32 {
  %c2 = arith.constant 2 : index
  %ji = tensor.extract %j[] : tensor<i32>
  %k = arith.index_cast %ji : i32 to index
  %v = tensor.extract %x[%c2, %k] : tensor<4x6xf32>
  return %v : f32
}

func.func @insert(%x: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xf32> {
  %c2 = arith.constant 2 : index
  %v = tensor.extract %s[] : tensor<f32>
  %0 = tensor.insert %v into %x[%c2] : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// GATHER-X-DAG:   #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// GATHER-X-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// GATHER-X-LABEL: func.func @gather_batched(%arg0: tensor<2x5xf32>, %arg1: tensor<3xi32>) -> tensor<2x3xf32>
// GATHER-X:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[COL]], #[[ID2]]], iterator_types = ["parallel", "parallel"]} ins(%arg1 : tensor<3xi32>)
// GATHER-X-NEXT:  ^bb0(%[[I:[a-z0-9_]+]]: i32, %{{.*}}: f32):
// GATHER-X-NEXT:    %[[K:[0-9]+]] = arith.index_cast %[[I]] : i32 to index
// GATHER-X-NEXT:    %[[B:[0-9]+]] = linalg.index 0 : index
// GATHER-X-NEXT:    %[[G:.*]] = tensor.extract %arg0[%[[B]], %[[K]]] : tensor<2x5xf32>
// GATHER-X-NEXT:    %[[S:[0-9]+]] = math.sin %[[G]] : f32
// GATHER-X-NEXT:    linalg.yield %[[S]] : f32
// GATHER-X:       return %[[Y]] : tensor<2x3xf32>

// JVP-THEN-VMAP-LABEL: func.func @gather_jvp_batched(%arg0: tensor<2x5xf32>, %arg1: tensor<3xi32>, %arg2: tensor<2x5xf32>)
// JVP-THEN-VMAP-SAME:      -> (tensor<2x3xf32>, tensor<2x3xf32>)
// JVP-THEN-VMAP:       %[[Y:[0-9]+]] = linalg.generic {{.*}} ins(%arg1 : tensor<3xi32>)
// JVP-THEN-VMAP:       %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%arg1 : tensor<3xi32>)
// JVP-THEN-VMAP-NEXT:  ^bb0(%[[I:[a-z0-9_]+]]: i32, %{{.*}}: f32):
// JVP-THEN-VMAP-NEXT:    %[[K:[0-9]+]] = arith.index_cast %[[I]] : i32 to index
// JVP-THEN-VMAP-NEXT:    %[[B:[0-9]+]] = linalg.index 0 : index
// JVP-THEN-VMAP-NEXT:    %[[G:.*]] = tensor.extract %arg0[%[[B]], %[[K]]] : tensor<2x5xf32>
// JVP-THEN-VMAP-NEXT:    %[[TG:.*]] = tensor.extract %arg2[%[[B]], %[[K]]] : tensor<2x5xf32>
// JVP-THEN-VMAP-NEXT:    %[[COS:[0-9]+]] = math.cos %[[G]] : f32
// JVP-THEN-VMAP-NEXT:    %[[P:[0-9]+]] = arith.mulf %[[TG]], %[[COS]] : f32
// JVP-THEN-VMAP-NEXT:    linalg.yield %[[P]] : f32
// JVP-THEN-VMAP:       return %[[Y]], %[[T]] : tensor<2x3xf32>, tensor<2x3xf32>

// GATHER-IDX-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// GATHER-IDX-LABEL: func.func @gather_batched(%arg0: tensor<5xf32>, %arg1: tensor<2x3xi32>) -> tensor<2x3xf32>
// GATHER-IDX:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID2]], #[[ID2]]], iterator_types = ["parallel", "parallel"]} ins(%arg1 : tensor<2x3xi32>)
// GATHER-IDX-NEXT:  ^bb0(%[[I:[a-z0-9_]+]]: i32, %{{.*}}: f32):
// GATHER-IDX-NEXT:    %[[K:[0-9]+]] = arith.index_cast %[[I]] : i32 to index
// GATHER-IDX-NEXT:    %[[G:.*]] = tensor.extract %arg0[%[[K]]] : tensor<5xf32>
// GATHER-IDX-NOT:     linalg.index
// GATHER-IDX:       return %[[Y]] : tensor<2x3xf32>

// EXTRACT-X-LABEL: func.func @extract_batched(%arg0: tensor<2x4x6xf32>, %arg1: tensor<i32>) -> tensor<2xf32>
// EXTRACT-X:       %[[C2:.*]] = arith.constant 2 : index
// EXTRACT-X:       %[[K:[0-9]+]] = arith.index_cast %{{.*}} : i32 to index
// EXTRACT-X-NEXT:  %[[V:.*]] = tensor.extract_slice %arg0[0, %[[C2]], %[[K]]] [2, 1, 1] [1, 1, 1] : tensor<2x4x6xf32> to tensor<2xf32>
// EXTRACT-X-NEXT:  return %[[V]] : tensor<2xf32>

// EXTRACT-IDX-DAG:   #[[V:map[0-9]*]] = affine_map<(d0) -> (d0)>
// EXTRACT-IDX-LABEL: func.func @extract_batched(%arg0: tensor<4x6xf32>, %arg1: tensor<2xi32>) -> tensor<2xf32>
// EXTRACT-IDX:       %[[C2:.*]] = arith.constant 2 : index
// EXTRACT-IDX:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[V]], #[[V]]], iterator_types = ["parallel"]} ins(%arg1 : tensor<2xi32>)
// EXTRACT-IDX-NEXT:  ^bb0(%[[N:[a-z0-9_]+]]: i32, %{{.*}}: f32):
// EXTRACT-IDX-NEXT:    %[[I:[0-9]+]] = arith.index_cast %[[N]] : i32 to index
// EXTRACT-IDX-NEXT:    %[[G:.*]] = tensor.extract %arg0[%[[C2]], %[[I]]] : tensor<4x6xf32>
// EXTRACT-IDX-NEXT:    linalg.yield %[[G]] : f32
// EXTRACT-IDX:       return %[[Y]] : tensor<2xf32>

// EXTRACT-BOTH-LABEL: func.func @extract_batched(%arg0: tensor<2x4x6xf32>, %arg1: tensor<2xi32>) -> tensor<2xf32>
// EXTRACT-BOTH:       %[[C2:.*]] = arith.constant 2 : index
// EXTRACT-BOTH:       linalg.generic {{.*}} ins(%arg1 : tensor<2xi32>)
// EXTRACT-BOTH-NEXT:  ^bb0(%[[N:[a-z0-9_]+]]: i32, %{{.*}}: f32):
// EXTRACT-BOTH-NEXT:    %[[I:[0-9]+]] = arith.index_cast %[[N]] : i32 to index
// EXTRACT-BOTH-NEXT:    %[[B:[0-9]+]] = linalg.index 0 : index
// EXTRACT-BOTH-NEXT:    %[[G:.*]] = tensor.extract %arg0[%[[B]], %[[C2]], %[[I]]] : tensor<2x4x6xf32>
// EXTRACT-BOTH-NEXT:    linalg.yield %[[G]] : f32

// INSERT-X-DAG:   #[[SCALAR:map[0-9]*]] = affine_map<(d0) -> ()>
// INSERT-X-LABEL: func.func @insert_batched(%arg0: tensor<2x4xf32>, %arg1: tensor<f32>) -> tensor<2x4xf32>
// INSERT-X:       %[[C2:.*]] = arith.constant 2 : index
// INSERT-X:       %[[V:.*]] = tensor.extract %arg1[] : tensor<f32>
// INSERT-X:       %[[VS:[0-9]+]] = linalg.generic {indexing_maps = [#[[SCALAR]], {{.*}}} ins(%[[V]] : f32) outs(%{{[0-9]+}} : tensor<2xf32>)
// INSERT-X:       %[[Y:.*]] = tensor.insert_slice %[[VS]] into %arg0[0, %[[C2]]] [2, 1] [1, 1] : tensor<2xf32> into tensor<2x4xf32>
// INSERT-X-NEXT:  return %[[Y]] : tensor<2x4xf32>

// INSERT-S-DAG:   #[[BCAST:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// INSERT-S-LABEL: func.func @insert_batched(%arg0: tensor<4xf32>, %arg1: tensor<2xf32>) -> tensor<2x4xf32>
// INSERT-S:       %[[C2:.*]] = arith.constant 2 : index
// INSERT-S-NOT:   tensor.extract
// INSERT-S:       %[[XS:[0-9]+]] = linalg.generic {indexing_maps = [#[[BCAST]], {{.*}}} ins(%arg0 : tensor<4xf32>) outs(%{{[0-9]+}} : tensor<2x4xf32>)
// INSERT-S:       %[[Y:.*]] = tensor.insert_slice %arg1 into %[[XS]][0, %[[C2]]] [2, 1] [1, 1] : tensor<2xf32> into tensor<2x4xf32>
// INSERT-S-NEXT:  return %[[Y]] : tensor<2x4xf32>
