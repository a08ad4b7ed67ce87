// Batching an elementwise generic adds a leading parallel dimension d0 over the batch:
// batched operands are read through (d0, d1), an unbatched one (y with in_axes none)
// through (d1), i.e. broadcast along the batch; every output gets the batch. The body,
// integer ops included, is the same. Whole-tensor arith / math ops (@g) run on the
// batched tensors, a batched scalar becomes a tensor<5xf32>, an unbatched operand of a
// batched op is broadcast, and a batched scalar select condition is broadcast to the
// values' shape (an unbatched one stays a scalar).
// RUN: irgrad-opt %s --vmap f --in-axes 0,0,0 --axis-size 5 | filecheck %s --check-prefix=ALL
// RUN: irgrad-opt %s --vmap f --in-axes 0,none,0 --axis-size 5 | filecheck %s --check-prefix=SHARED-Y
// RUN: irgrad-opt %s --vmap g --in-axes 0,0 --axis-size 5 | filecheck %s --check-prefix=TENSOR
// RUN: irgrad-opt %s --vmap g --in-axes 0,none --axis-size 5 | filecheck %s --check-prefix=SCALAR-COND

#id = affine_map<(d0) -> (d0)>
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>, %n: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %e = tensor.empty() : tensor<4xf32>
  %ei = tensor.empty() : tensor<4xi32>
  %0:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel"]}
      ins(%x, %y, %n : tensor<4xf32>, tensor<4xf32>, tensor<4xi32>) outs(%e, %ei : tensor<4xf32>, tensor<4xi32>) {
  ^bb0(%a: f32, %b: f32, %k: i32, %o: f32, %oi: i32):
    %s = math.sin %a : f32
    %c = arith.cmpf olt, %a, %b : f32
    %r = arith.select %c, %s, %b : f32
    %j = arith.addi %k, %k : i32
    linalg.yield %r, %j : f32, i32
  } -> (tensor<4xf32>, tensor<4xi32>)
  return %0#0, %0#1 : tensor<4xf32>, tensor<4xi32>
}

func.func @g(%x: tensor<2x3xf32>, %s: f32) -> tensor<2x3xf32> {
  %p = math.exp %x : tensor<2x3xf32>
  %t = arith.mulf %s, %s : f32
  %z = arith.constant 0.0 : f32
  %c = arith.cmpf ogt, %t, %z : f32
  %q = arith.select %c, %p, %x : tensor<2x3xf32>
  return %q : tensor<2x3xf32>
}

// ALL-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// ALL-LABEL: func.func @f_batched(%arg0: tensor<5x4xf32>, %arg1: tensor<5x4xf32>, %arg2: tensor<5x4xi32>)
// ALL-SAME:      -> (tensor<5x4xf32>, tensor<5x4xi32>)
// ALL:       %[[OF:[0-9]+]] = tensor.empty() : tensor<5x4xf32>
// ALL-NEXT:  %[[OI:[0-9]+]] = tensor.empty() : tensor<5x4xi32>
// ALL-NEXT:  %[[R:[0-9]+]]:2 = linalg.generic {indexing_maps = [#[[ID2]], #[[ID2]], #[[ID2]], #[[ID2]], #[[ID2]]], iterator_types = ["parallel", "parallel"]}
// ALL-SAME:      ins(%arg0, %arg1, %arg2 : tensor<5x4xf32>, tensor<5x4xf32>, tensor<5x4xi32>) outs(%[[OF]], %[[OI]] : tensor<5x4xf32>, tensor<5x4xi32>)
// ALL-NEXT:  ^bb0(%[[A:[a-z0-9_]+]]: f32, %[[B:[a-z0-9_]+]]: f32, %[[K:[a-z0-9_]+]]: i32,
// ALL-NEXT:    %[[S:[0-9]+]] = math.sin %[[A]] : f32
// ALL-NEXT:    %[[C:[0-9]+]] = arith.cmpf olt, %[[A]], %[[B]] : f32
// ALL-NEXT:    %[[SEL:[0-9]+]] = arith.select %[[C]], %[[S]], %[[B]] : f32
// ALL-NEXT:    %[[J:[0-9]+]] = arith.addi %[[K]], %[[K]] : i32
// ALL-NEXT:    linalg.yield %[[SEL]], %[[J]] : f32, i32
// ALL:       return %[[R]]#0, %[[R]]#1 : tensor<5x4xf32>, tensor<5x4xi32>

// SHARED-Y-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// SHARED-Y-DAG:   #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// SHARED-Y-LABEL: func.func @f_batched(%arg0: tensor<5x4xf32>, %arg1: tensor<4xf32>, %arg2: tensor<5x4xi32>)
// SHARED-Y:       linalg.generic {indexing_maps = [#[[ID2]], #[[COL]], #[[ID2]], #[[ID2]], #[[ID2]]], iterator_types = ["parallel", "parallel"]}
// SHARED-Y-SAME:      ins(%arg0, %arg1, %arg2 : tensor<5x4xf32>, tensor<4xf32>, tensor<5x4xi32>)

// TENSOR-DAG:   #[[SCALAR:map[0-9]*]] = affine_map<(d0) -> ()>
// TENSOR-DAG:   #[[VEC:map[0-9]*]] = affine_map<(d0) -> (d0)>
// TENSOR-DAG:   #[[LEAD:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0)>
// TENSOR-DAG:   #[[ID3:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// TENSOR-LABEL: func.func @g_batched(%arg0: tensor<5x2x3xf32>, %arg1: tensor<5xf32>) -> tensor<5x2x3xf32>
// TENSOR:       %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// TENSOR:       %[[E:[0-9]+]] = math.exp %arg0 : tensor<5x2x3xf32>
// TENSOR-NEXT:  %[[T:[0-9]+]] = arith.mulf %arg1, %arg1 : tensor<5xf32>
// The unbatched 0.0 broadcast along the batch, then compared per example.
// TENSOR:       %[[ZEROS:[0-9]+]] = linalg.generic {indexing_maps = [#[[SCALAR]], #[[VEC]]], iterator_types = ["parallel"]} ins(%[[ZERO]] : f32)
// TENSOR:       %[[C:[0-9]+]] = arith.cmpf ogt, %[[T]], %[[ZEROS]] : tensor<5xf32>
// The per-example condition, broadcast over each example's 2x3 values.
// TENSOR:       %[[CB:[0-9]+]] = linalg.generic {indexing_maps = [#[[LEAD]], #[[ID3]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[C]] : tensor<5xi1>)
// TENSOR:       %[[Q:[0-9]+]] = arith.select %[[CB]], %[[E]], %arg0 : tensor<5x2x3xi1>, tensor<5x2x3xf32>
// TENSOR-NEXT:  return %[[Q]] : tensor<5x2x3xf32>

// SCALAR-COND-LABEL: func.func @g_batched(%arg0: tensor<5x2x3xf32>, %arg1: f32) -> tensor<5x2x3xf32>
// SCALAR-COND-NOT:   linalg.generic
// SCALAR-COND:       %[[E:[0-9]+]] = math.exp %arg0 : tensor<5x2x3xf32>
// SCALAR-COND-NEXT:  %[[T:[0-9]+]] = arith.mulf %arg1, %arg1 : f32
// SCALAR-COND-NEXT:  %[[C:[0-9]+]] = arith.cmpf ogt, %[[T]], %{{.*}} : f32
// SCALAR-COND-NEXT:  %[[Q:[0-9]+]] = arith.select %[[C]], %[[E]], %arg0 : tensor<5x2x3xf32>
// SCALAR-COND-NEXT:  return %[[Q]] : tensor<5x2x3xf32>
