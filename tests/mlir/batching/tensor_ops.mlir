// Tensor ops batch by taking the whole batch dimension in front: slices get offset 0,
// size 5 and stride 1 there and keep their own offsets / sizes / strides behind it;
// reshapes get a [0] group and every other group shifted by one; concat's dim moves up
// by one; a cast gets the batch in front of its (dynamic) shape. An unbatched operand of
// a batched op (y with in_axes none) is broadcast along the batch first.
// RUN: irgrad-opt %s --vmap f --in-axes 0,0 --axis-size 5 | filecheck %s --check-prefix=ALL
// RUN: irgrad-opt %s --vmap f --in-axes 0,0 --axis-size 5 --cleanup | filecheck %s --check-prefix=ALL
// RUN: irgrad-opt %s --vmap g --in-axes 0,none --axis-size 5 | filecheck %s --check-prefix=SHARED-Y

func.func @f(%x: tensor<4x6xf32>, %y: tensor<2x3xf32>) -> (tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>) {
  %s = tensor.extract_slice %x[1, 0] [2, 6] [2, 1] : tensor<4x6xf32> to tensor<2x6xf32>
  %i = tensor.insert_slice %y into %x[0, 2] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<4x6xf32>
  %c = tensor.collapse_shape %i [[0, 1]] : tensor<4x6xf32> into tensor<24xf32>
  %ex = tensor.expand_shape %s [[0], [1, 2]] output_shape [2, 3, 2] : tensor<2x6xf32> into tensor<2x3x2xf32>
  %cat = tensor.concat dim(0) %s, %x : (tensor<2x6xf32>, tensor<4x6xf32>) -> tensor<6x6xf32>
  %d = tensor.cast %cat : tensor<6x6xf32> to tensor<?x6xf32>
  return %c, %ex, %d : tensor<24xf32>, tensor<2x3x2xf32>, tensor<?x6xf32>
}

func.func @g(%x: tensor<4x3xf32>, %y: tensor<2x3xf32>) -> (tensor<4x3xf32>, tensor<6x3xf32>) {
  %i = tensor.insert_slice %y into %x[1, 0] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<4x3xf32>
  %cat = tensor.concat dim(0) %x, %y : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<6x3xf32>
  return %i, %cat : tensor<4x3xf32>, tensor<6x3xf32>
}

// ALL-LABEL: func.func @f_batched(%arg0: tensor<5x4x6xf32>, %arg1: tensor<5x2x3xf32>)
// ALL-SAME:      -> (tensor<5x24xf32>, tensor<5x2x3x2xf32>, tensor<5x?x6xf32>)
// ALL-NOT:   linalg.generic
// ALL-DAG:   %[[S:.*]] = tensor.extract_slice %arg0[0, 1, 0] [5, 2, 6] [1, 2, 1] : tensor<5x4x6xf32> to tensor<5x2x6xf32>
// ALL-DAG:   %[[I:.*]] = tensor.insert_slice %arg1 into %arg0[0, 0, 2] [5, 2, 3] [1, 1, 1] : tensor<5x2x3xf32> into tensor<5x4x6xf32>
// ALL-DAG:   %[[C:.*]] = tensor.collapse_shape %[[I]] {{\[\[}}0], [1, 2]] : tensor<5x4x6xf32> into tensor<5x24xf32>
// ALL-DAG:   %[[E:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0], [1], [2, 3]] output_shape [5, 2, 3, 2] : tensor<5x2x6xf32> into tensor<5x2x3x2xf32>
// ALL-DAG:   %[[CAT:.*]] = tensor.concat dim(1) %[[S]], %arg0 : (tensor<5x2x6xf32>, tensor<5x4x6xf32>) -> tensor<5x6x6xf32>
// ALL-DAG:   %[[D:.*]] = tensor.cast %[[CAT]] : tensor<5x6x6xf32> to tensor<5x?x6xf32>
// ALL:       return %[[C]], %[[E]], %[[D]] :

// SHARED-Y-DAG:   #[[BCAST:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// SHARED-Y-LABEL: func.func @g_batched(%arg0: tensor<5x4x3xf32>, %arg1: tensor<2x3xf32>) -> (tensor<5x4x3xf32>, tensor<5x6x3xf32>)
// SHARED-Y:       %[[Y1:[0-9]+]] = linalg.generic {indexing_maps = [#[[BCAST]], {{.*}}} ins(%arg1 : tensor<2x3xf32>) outs(%{{[0-9]+}} : tensor<5x2x3xf32>)
// SHARED-Y:       %[[I:.*]] = tensor.insert_slice %[[Y1]] into %arg0[0, 1, 0] [5, 2, 3] [1, 1, 1] : tensor<5x2x3xf32> into tensor<5x4x3xf32>
// SHARED-Y:       %[[Y2:[0-9]+]] = linalg.generic {indexing_maps = [#[[BCAST]], {{.*}}} ins(%arg1 : tensor<2x3xf32>) outs(%{{[0-9]+}} : tensor<5x2x3xf32>)
// SHARED-Y:       %[[CAT:.*]] = tensor.concat dim(1) %arg0, %[[Y2]] : (tensor<5x4x3xf32>, tensor<5x2x3xf32>) -> tensor<5x6x3xf32>
// SHARED-Y:       return %[[I]], %[[CAT]] :
