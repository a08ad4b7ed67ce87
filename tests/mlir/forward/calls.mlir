// A call to a private function is inlined before differentiation (so d(u * u) = t u + t u
// twice, the second time at u = the first square). A custom_jvp call (a no_inline call
// of the primal carrying the rule) stays, and a call of its rule @rule(x, t_x) gives the
// result's tangent (its second result); the primal is never differentiated. The
// stop_gradient marker's result has no tangent, so t_z = t_y * s only.
// RUN: irgrad-opt %s --jvp f | filecheck %s --check-prefix=INLINE
// RUN: irgrad-opt %s --jvp f --cleanup | filecheck %s --check-prefix=INLINE
// RUN: irgrad-opt %s --jvp g | filecheck %s --check-prefix=CUSTOM
// RUN: irgrad-opt %s --jvp g | irgrad-opt - --jvp f | filecheck %s --check-prefix=BOTH

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

func.func private @primal(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%u: f32, %o: f32):
    %p = math.sin %u : f32
    linalg.yield %p : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func private @rule(%x: tensor<4xf32>, %t: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %y = func.call @primal(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%x, %t : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%u: f32, %d: f32, %o: f32):
    %c = math.cos %u : f32
    %two = arith.constant 2.0 : f32
    %p = arith.mulf %c, %d : f32
    %q = arith.mulf %p, %two : f32
    linalg.yield %q : f32
  } -> tensor<4xf32>
  return %y, %0 : tensor<4xf32>, tensor<4xf32>
}
func.func private @irgrad.stop_gradient.tensor_4xf32_(tensor<4xf32>) -> tensor<4xf32>

func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = func.call @primal(%x) <{no_inline}> {irgrad.custom_jvp = {jvp = @rule, sizes = array<i64: 1, 0, 0>}} : (tensor<4xf32>) -> tensor<4xf32>
  %s = func.call @irgrad.stop_gradient.tensor_4xf32_(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%y, %s : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<4xf32>
  return %z : tensor<4xf32>
}

// INLINE-LABEL: func.func @f_jvp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// INLINE-NOT:   call
// INLINE:       %[[SQ:[0-9]+]] = linalg.generic {{.*}} ins(%arg0 : tensor<4xf32>)
// INLINE:       %[[TSQ:[0-9]+]] = linalg.generic {{.*}} ins(%arg0, %arg1 :
// INLINE-NEXT:  ^bb0(%[[U:[a-z0-9_]+]]: f32, %[[TU:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// INLINE:         %[[P1:[0-9]+]] = arith.mulf %[[TU]], %[[U]] : f32
// INLINE:         arith.addf %[[P1]], %{{[0-9]+}} : f32
// INLINE:       %[[Y:[0-9]+]] = linalg.generic {{.*}} ins(%[[SQ]] : tensor<4xf32>)
// INLINE:       %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%[[SQ]], %[[TSQ]] :
// INLINE-NEXT:  ^bb0(%[[V:[a-z0-9_]+]]: f32, %[[TV:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// INLINE:         %[[Q1:[0-9]+]] = arith.mulf %[[TV]], %[[V]] : f32
// INLINE:         arith.addf %[[Q1]], %{{[0-9]+}} : f32
// INLINE:       return %[[Y]], %[[T]] : tensor<4xf32>, tensor<4xf32>
// INLINE-NOT:   call

// CUSTOM-LABEL: func.func @g_jvp(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// CUSTOM-NEXT:    %[[Y:[0-9]+]] = call @primal(%arg0) <no_inline> {irgrad.custom_jvp = {jvp = @rule
// CUSTOM-NEXT:    %[[R:[0-9]+]]:2 = call @rule(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// CUSTOM-NEXT:    %[[S:[0-9]+]] = call @irgrad.stop_gradient.tensor_4xf32_(%arg0)
// CUSTOM:         %[[Z:[0-9]+]] = linalg.generic {{.*}} ins(%[[Y]], %[[S]] :
// CUSTOM:         %[[T:[0-9]+]] = linalg.generic {{.*}} ins(%[[Y]], %[[S]], %[[R]]#1 :
// CUSTOM-NEXT:    ^bb0(%{{.*}}: f32, %[[VS:[a-z0-9_]+]]: f32, %[[TY:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CUSTOM:           %[[P:[0-9]+]] = arith.mulf %[[TY]], %[[VS]] : f32
// CUSTOM-NEXT:      linalg.yield %[[P]] : f32
// CUSTOM:         return %[[Z]], %[[T]] : tensor<4xf32>, tensor<4xf32>

// BOTH-LABEL: func.func @g_jvp(
// BOTH-NOT:   func.func @g_jvp(
// BOTH-LABEL: func.func @f_jvp(
// BOTH-NOT:   func.func @f_jvp(
