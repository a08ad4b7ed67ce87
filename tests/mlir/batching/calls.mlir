// Calls. A private function's call is inlined first, so @f batches as two batched
// generics. A custom_jvp call (@g) becomes a no_inline call of a batched copy of the
// primal carrying a batched copy of its rule (the rule batched in both the argument and
// its tangent); the stop_gradient marker is re-emitted on the batched tensor. A
// custom_vjp call (@h) with an unbatched w gets batched @fwd / @bwd, and the batched
// @bwd is wrapped so that w's cotangent is summed over the batch (w is shared by every
// example). (The copies are named with a process-wide counter, @name_bN.)
// RUN: irgrad-opt %s --vmap f --in-axes 0 --axis-size 3 | filecheck %s --check-prefix=INLINE
// RUN: irgrad-opt %s --vmap g --in-axes 0 --axis-size 3 | filecheck %s --check-prefix=JVP
// RUN: irgrad-opt %s --vmap h --in-axes 0,none --axis-size 3 | filecheck %s --check-prefix=VJP

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

func.func private @scale(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.mulf %x, %w : tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func private @scale_fwd(%x: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = arith.mulf %x, %w : tensor<4xf32>
  return %0, %x, %w : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
func.func private @scale_bwd(%x: tensor<4xf32>, %w: tensor<4xf32>, %g: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %dx = arith.mulf %g, %w : tensor<4xf32>
  %dw = arith.mulf %g, %x : tensor<4xf32>
  return %dx, %dw : tensor<4xf32>, tensor<4xf32>
}
func.func @h(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %y = func.call @scale(%x, %w) <{no_inline}> {irgrad.custom_vjp = {fwd = @scale_fwd, bwd = @scale_bwd, sizes = array<i64: 2, 0, 0, 0>}} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// INLINE-LABEL: func.func @f_batched(%arg0: tensor<3x4xf32>) -> tensor<3x4xf32>
// INLINE-NOT:   call
// INLINE:       %[[SQ:[0-9]+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<3x4xf32>)
// INLINE:         arith.mulf %[[U:[a-z0-9_]+]], %[[U]] : f32
// INLINE:       %[[Y:[0-9]+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%[[SQ]] : tensor<3x4xf32>)
// INLINE:         arith.mulf %[[V:[a-z0-9_]+]], %[[V]] : f32
// INLINE:       return %[[Y]] : tensor<3x4xf32>

// JVP:       func.func private @irgrad.stop_gradient.tensor_3x4xf32_(tensor<3x4xf32>) -> tensor<3x4xf32>
// JVP:       func.func private @[[PRIMAL:primal_b[0-9]+]](%arg0: tensor<3x4xf32>) -> tensor<3x4xf32>
// JVP:         math.sin
// JVP:       func.func private @[[RULE:rule_b[0-9]+]](%arg0: tensor<3x4xf32>, %arg1: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>)
// JVP:         linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<3x4xf32>, tensor<3x4xf32>)
// JVP:           math.cos
// JVP-LABEL: func.func @g_batched(%arg0: tensor<3x4xf32>) -> tensor<3x4xf32>
// JVP-NEXT:    %[[Y:[0-9]+]] = call @[[PRIMAL]](%arg0) <no_inline> {irgrad.custom_jvp = {jvp = @[[RULE]], sizes = array<i64: 1, 0, 0>}} : (tensor<3x4xf32>) -> tensor<3x4xf32>
// JVP-NEXT:    %[[S:[0-9]+]] = call @irgrad.stop_gradient.tensor_3x4xf32_(%arg0) : (tensor<3x4xf32>) -> tensor<3x4xf32>
// JVP:         linalg.generic {{.*}} ins(%[[Y]], %[[S]] : tensor<3x4xf32>, tensor<3x4xf32>)

// VJP-DAG:   #[[COL:map[0-9]*]] = affine_map<(d0, d1) -> (d1)>
// VJP-DAG:   #[[ID2:map[0-9]*]] = affine_map<(d0, d1) -> (d0, d1)>
// VJP:       func.func private @[[PRIMAL:scale_b[0-9]+]](%arg0: tensor<3x4xf32>, %arg1: tensor<4xf32>) -> tensor<3x4xf32>
// VJP:       func.func private @[[FWD:scale_fwd_b[0-9]+]](%arg0: tensor<3x4xf32>, %arg1: tensor<4xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>)
// VJP:       func.func private @[[BWD:scale_bwd_b[0-9]+]](%arg0: tensor<3x4xf32>, %arg1: tensor<3x4xf32>, %arg2: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>)
// VJP-NEXT:    %[[DX:[0-9]+]] = arith.mulf %arg2, %arg1 : tensor<3x4xf32>
// VJP-NEXT:    %[[DW:[0-9]+]] = arith.mulf %arg2, %arg0 : tensor<3x4xf32>
// w's cotangent summed over the batch (d0 is the reduction), x's passed through.
// VJP:       func.func private @[[BWD]]_summed(%arg0: tensor<3x4xf32>, %arg1: tensor<3x4xf32>, %arg2: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<4xf32>)
// VJP-NEXT:    %[[R:[0-9]+]]:2 = call @[[BWD]](%arg0, %arg1, %arg2)
// VJP:         %[[ZERO:[0-9]+]] = linalg.fill
// VJP-NEXT:    %[[SUM:[0-9]+]] = linalg.generic {indexing_maps = [#[[ID2]], #[[COL]]], iterator_types = ["reduction", "parallel"]} ins(%[[R]]#1 : tensor<3x4xf32>) outs(%[[ZERO]] : tensor<4xf32>)
// VJP:           arith.addf
// VJP:         return %[[R]]#0, %[[SUM]] : tensor<3x4xf32>, tensor<4xf32>
// VJP-LABEL: func.func @h_batched(%arg0: tensor<3x4xf32>, %arg1: tensor<4xf32>) -> tensor<3x4xf32>
// VJP-NEXT:    %[[Y:[0-9]+]] = call @[[PRIMAL]](%arg0, %arg1) <no_inline> {irgrad.custom_vjp = {bwd = @[[BWD]]_summed, fwd = @[[FWD]], sizes = array<i64: 2, 0, 0, 0>}}
// VJP-NEXT:    return %[[Y]] : tensor<3x4xf32>
