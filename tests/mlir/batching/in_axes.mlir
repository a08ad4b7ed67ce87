// in_axes / out_axes. Inside the pass the batch is always dimension 0: a batched argument
// is transposed there on entry (x with in_axes 1: out[b, i, j] = x[i, b, j]; with in_axes
// -1: out[b, i, j] = x[i, j, b]) and a result moved to its out_axes at the end (-1:
// out[i, j, b] = z[b, i, j]). Unbatched arguments are not copied: y (none) is read
// through its old map shifted past d0, (d2); an unbatched scalar s stays a captured
// scalar, a batched one (tensor<4xf32>) becomes an input read through (d0). A result that
// depends on no batched argument stays unbatched under out_axes none, and is broadcast
// along the batch under out_axes 0.
// RUN: irgrad-opt %s --vmap f --in-axes=1,none,0 --out-axes=-1,none --axis-size 4 | filecheck %s --check-prefix=MIDDLE
// RUN: irgrad-opt %s --vmap f --in-axes=-1,none,none --out-axes=0,0 --axis-size 4 | filecheck %s --check-prefix=LAST

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @f(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %s: f32) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.addf %p, %s : f32
    linalg.yield %q : f32
  } -> tensor<2x3xf32>
  %u = math.sin %y : tensor<3xf32>
  return %0, %u : tensor<2x3xf32>, tensor<3xf32>
}

// MIDDLE-DAG:   #[[TO_FRONT:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// MIDDLE-DAG:   #[[ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// MIDDLE-DAG:   #[[Y:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2)>
// MIDDLE-DAG:   #[[B:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0)>
// MIDDLE-DAG:   #[[TO_BACK:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2, d0, d1)>
// MIDDLE-LABEL: func.func @f_batched(%arg0: tensor<2x4x3xf32>, %arg1: tensor<3xf32>, %arg2: tensor<4xf32>)
// MIDDLE-SAME:      -> (tensor<2x3x4xf32>, tensor<3xf32>)
// MIDDLE:       %[[X:[0-9]+]] = linalg.generic {indexing_maps = [#[[TO_FRONT]], #[[ID3]]], {{.*}} ins(%arg0 : tensor<2x4x3xf32>) outs(%{{[0-9]+}} : tensor<4x2x3xf32>)
// MIDDLE:       %[[Z:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID3]], #[[Y]], #[[B]], #[[ID3]]], iterator_types = ["parallel", "parallel", "parallel"]}
// MIDDLE-SAME:      ins(%[[X]], %arg1, %arg2 : tensor<4x2x3xf32>, tensor<3xf32>, tensor<4xf32>)
// MIDDLE-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[VY:[a-z0-9_]+]]: f32, %[[S:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// MIDDLE-NEXT:    %[[P:[0-9]+]] = arith.mulf %[[A]], %[[VY]] : f32
// MIDDLE-NEXT:    %[[Q:[0-9]+]] = arith.addf %[[P]], %[[S]] : f32
// MIDDLE:       %[[U:[0-9]+]] = math.sin %arg1 : tensor<3xf32>
// MIDDLE:       %[[OUT:[0-9]+]] = linalg.generic {indexing_maps = [#[[TO_BACK]], #[[ID3]]], {{.*}} ins(%[[Z]] : tensor<4x2x3xf32>) outs(%{{[0-9]+}} : tensor<2x3x4xf32>)
// MIDDLE:       return %[[OUT]], %[[U]] : tensor<2x3x4xf32>, tensor<3xf32>

// LAST-DAG:   #[[TO_FRONT:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2, d0)>
// LAST-DAG:   #[[ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// LAST-DAG:   #[[Y:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2)>
// LAST-DAG:   #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// LAST-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// LAST-LABEL: func.func @f_batched(%arg0: tensor<2x3x4xf32>, %arg1: tensor<3xf32>, %arg2: f32)
// LAST-SAME:      -> (tensor<4x2x3xf32>, tensor<4x3xf32>)
// LAST:       %[[X:[0-9]+]] = linalg.generic {indexing_maps = [#[[TO_FRONT]], #[[ID3]]], {{.*}} ins(%arg0 : tensor<2x3x4xf32>) outs(%{{[0-9]+}} : tensor<4x2x3xf32>)
// LAST:       %[[Z:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID3]], #[[Y]], #[[ID3]]], iterator_types = ["parallel", "parallel", "parallel"]}
// LAST-SAME:      ins(%[[X]], %arg1 : tensor<4x2x3xf32>, tensor<3xf32>)
// LAST-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[VY:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// LAST-NEXT:    %[[P:[0-9]+]] = arith.mulf %[[A]], %[[VY]] : f32
// LAST-NEXT:    %[[Q:[0-9]+]] = arith.addf %[[P]], %arg2 : f32
// LAST:       %[[U:[0-9]+]] = math.sin %arg1 : tensor<3xf32>
// LAST:       %[[UB:[0-9]+]] = linalg.generic {indexing_maps = [#[[COL]], #[[ID2]]], {{.*}} ins(%[[U]] : tensor<3xf32>) outs(%{{[0-9]+}} : tensor<4x3xf32>)
// LAST:       return %[[Z]], %[[UB]] : tensor<4x2x3xf32>, tensor<4x3xf32>
