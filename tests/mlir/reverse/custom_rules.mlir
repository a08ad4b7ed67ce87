// A custom_vjp call (a no_inline call of the primal carrying the rules) is replaced
// by a call of its fwd rule, and its bwd rule gives the argument's cotangent; the
// primal is never differentiated. The stop_gradient marker call stops the cotangent.
// --strong-zero guards each cotangent-times-partial product with a select on zero.
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f --strong-zero | filecheck %s --check-prefix=STRONG

#id = affine_map<(d0) -> (d0)>
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
func.func private @fwd(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = func.call @primal(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0, %x : tensor<4xf32>, tensor<4xf32>
}
func.func private @bwd(%res: tensor<4xf32>, %g: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%res, %g : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%r: f32, %d: f32, %o: f32):
    %c = math.cos %r : f32
    %two = arith.constant 2.0 : f32
    %p = arith.mulf %c, %d : f32
    %q = arith.mulf %p, %two : f32
    linalg.yield %q : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func private @irgrad.stop_gradient.tensor_4xf32_(tensor<4xf32>) -> tensor<4xf32>

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = func.call @primal(%x) <{no_inline}> {irgrad.custom_vjp = {fwd = @fwd, bwd = @bwd, sizes = array<i64: 1, 0, 0, 0>}} : (tensor<4xf32>) -> tensor<4xf32>
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

// RAW-LABEL: func.func @f_vjp(
// RAW:       %[[FWD:.*]]:2 = call @fwd(%arg0)
// RAW-NOT:   call @primal
// RAW:       call @irgrad.stop_gradient.tensor_4xf32_(%arg0)
// RAW:       %[[G:.*]] = call @bwd(%[[FWD]]#1, %{{.*}})
// RAW:       return %{{.*}}, %[[G]]

// STRONG-LABEL: func.func @f_vjp(
// STRONG:       arith.cmpf oeq
// STRONG:       arith.select
