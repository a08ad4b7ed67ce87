// A reduction generic gets the same leading parallel batch dimension: (d0, d1) -> (d0)
// over ["parallel", "reduction"] becomes (d0, d1, d2) -> (d0, d1) over ["parallel",
// "parallel", "reduction"], so each example reduces its own rows. The unbatched init
// (a fill the body reads) is broadcast along the batch. In @argmax the body's
// linalg.index 1 (the reduced position) becomes linalg.index 2. With --in-axes 1 the
// batch is first moved to the front: a transpose generic reading (d1, d0, d2).
// RUN: irgrad-opt %s --vmap sum --in-axes 1 --axis-size 2 | filecheck %s --check-prefix=SUM
// RUN: irgrad-opt %s --vmap argmax --in-axes 1 --axis-size 2 | filecheck %s --check-prefix=ARGMAX
// RUN: irgrad-opt %s --vmap prod --in-axes 0 --axis-size 2 | filecheck %s --check-prefix=PROD

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @sum(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// max and its argmax: the first index attaining the max (ties keep the earlier index).
func.func @argmax(%x: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<3xi32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %c0 = arith.constant 0 : i32
  %e = tensor.empty() : tensor<3xf32>
  %ei = tensor.empty() : tensor<3xi32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %fi = linalg.fill ins(%c0 : i32) outs(%ei : tensor<3xi32>) -> tensor<3xi32>
  %0:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f, %fi : tensor<3xf32>, tensor<3xi32>) {
  ^bb0(%a: f32, %m: f32, %i: i32):
    %j = linalg.index 1 : index
    %ji = arith.index_cast %j : index to i32
    %gt = arith.cmpf ogt, %a, %m : f32
    %nm = arith.select %gt, %a, %m : f32
    %ni = arith.select %gt, %ji, %i : i32
    linalg.yield %nm, %ni : f32, i32
  } -> (tensor<3xf32>, tensor<3xi32>)
  return %0#0, %0#1 : tensor<3xf32>, tensor<3xi32>
}

func.func @prod(%x: tensor<3x5xf32>) -> tensor<3xf32> {
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

// SUM-DAG:   #[[TR:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// SUM-DAG:   #[[ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// SUM-DAG:   #[[ROWS:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// SUM-DAG:   #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// SUM-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// SUM-LABEL: func.func @sum_batched(%arg0: tensor<3x2x4xf32>) -> tensor<2x3xf32>
// SUM:       %[[X:[0-9]+]] = linalg.generic {indexing_maps = [#[[TR]], #[[ID3]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0 : tensor<3x2x4xf32>) outs(%{{[0-9]+}} : tensor<2x3x4xf32>)
// SUM:       %[[INIT:[0-9]+]] = linalg.generic {{.*}} outs(%{{[0-9]+}} : tensor<3xf32>)
// SUM:       %[[INITS:[0-9]+]] = linalg.generic {indexing_maps = [#[[COL]], #[[ID2]]], iterator_types = ["parallel", "parallel"]} ins(%[[INIT]] : tensor<3xf32>) outs(%{{[0-9]+}} : tensor<2x3xf32>)
// SUM:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID3]], #[[ROWS]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<2x3x4xf32>) outs(%[[INITS]] : tensor<2x3xf32>)
// SUM-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// SUM-NEXT:    %[[S:[0-9]+]] = arith.addf %[[A]], %[[ACC]] : f32
// SUM-NEXT:    linalg.yield %[[S]] : f32
// SUM:       return %[[Y]] : tensor<2x3xf32>

// ARGMAX-DAG:   #[[ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// ARGMAX-DAG:   #[[ROWS:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// ARGMAX-LABEL: func.func @argmax_batched(%arg0: tensor<3x2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xi32>)
// ARGMAX:       %[[X:[0-9]+]] = linalg.generic {{.*}} ins(%arg0 : tensor<3x2x4xf32>) outs(%{{[0-9]+}} : tensor<2x3x4xf32>)
// ARGMAX:       %[[M0:[0-9]+]] = linalg.generic {{.*}} outs(%{{[0-9]+}} : tensor<2x3xf32>)
// ARGMAX:       %[[I0:[0-9]+]] = linalg.generic {{.*}} outs(%{{[0-9]+}} : tensor<2x3xi32>)
// ARGMAX:       %[[R:[0-9]+]]:2 = linalg.generic {indexing_maps = [#[[ID3]], #[[ROWS]], #[[ROWS]]], iterator_types = ["parallel", "parallel", "reduction"]}
// ARGMAX-SAME:      ins(%[[X]] : tensor<2x3x4xf32>) outs(%[[M0]], %[[I0]] : tensor<2x3xf32>, tensor<2x3xi32>)
// ARGMAX-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[M:[a-z0-9_]+]]: f32, %[[I:[a-z0-9_]+]]: i32):
// ARGMAX-NEXT:    %[[J:[0-9]+]] = linalg.index 2 : index
// ARGMAX-NEXT:    %[[JI:[0-9]+]] = arith.index_cast %[[J]] : index to i32
// ARGMAX-NEXT:    %[[GT:[0-9]+]] = arith.cmpf ogt, %[[A]], %[[M]] : f32
// ARGMAX-NEXT:    %[[NM:[0-9]+]] = arith.select %[[GT]], %[[A]], %[[M]] : f32
// ARGMAX-NEXT:    %[[NI:[0-9]+]] = arith.select %[[GT]], %[[JI]], %[[I]] : i32
// ARGMAX-NEXT:    linalg.yield %[[NM]], %[[NI]] : f32, i32
// ARGMAX:       return %[[R]]#0, %[[R]]#1 : tensor<2x3xf32>, tensor<2x3xi32>

// PROD-DAG:   #[[ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// PROD-DAG:   #[[ROWS:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// PROD-LABEL: func.func @prod_batched(%arg0: tensor<2x3x5xf32>) -> tensor<2x3xf32>
// PROD:       %[[INITS:[0-9]+]] = linalg.generic {{.*}} outs(%{{[0-9]+}} : tensor<2x3xf32>)
// PROD:       %[[Y:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID3]], #[[ROWS]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0 : tensor<2x3x5xf32>) outs(%[[INITS]] : tensor<2x3xf32>)
// PROD-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// PROD-NEXT:    %[[P:[0-9]+]] = arith.mulf %[[A]], %[[ACC]] : f32
// PROD-NEXT:    linalg.yield %[[P]] : f32
// PROD:       return %[[Y]] : tensor<2x3xf32>
