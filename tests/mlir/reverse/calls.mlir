// A call to a private function is inlined before differentiation; the vjp function
// is emitted once, also when the pass runs on its own output (grad of grad).
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=CLEAN
// RUN: irgrad-opt %s --vjp f | irgrad-opt - --vjp f_vjp --wrt 0 | filecheck %s --check-prefix=GRAD2
// RUN: irgrad-opt %s --vjp f --cleanup | irgrad-opt - --vjp f_vjp --cleanup | filecheck %s --check-prefix=GRAD2

#id = affine_map<(d0) -> (d0)>
func.func private @square(%a: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%u: f32, %o: f32):
    %p = arith.mulf %u, %u : f32
    linalg.yield %p : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = func.call @square(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = func.call @square(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// RAW-NOT:   func.call
// RAW-LABEL: func.func @f(
// RAW-LABEL: func.func @f_vjp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// RAW-NOT:   func.call
// RAW-NOT:   func.func @f_vjp(

// CLEAN-NOT:   @square
// CLEAN-LABEL: func.func @f(
// CLEAN-LABEL: func.func @f_vjp(
// CLEAN-NOT:   func.call
// CLEAN-NOT:   func.func @f_vjp(

// GRAD2-LABEL: func.func @f(
// GRAD2-NOT:   func.func @f(
// GRAD2-LABEL: func.func @f_vjp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>)
// GRAD2-NOT:   func.func @f_vjp(
// GRAD2-LABEL: func.func @f_vjp_vjp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>, %arg2: tensor<4xf32>, %arg3: tensor<4xf32>)
// GRAD2-SAME:      -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
// GRAD2-NOT:   func.func @f_vjp_vjp(
