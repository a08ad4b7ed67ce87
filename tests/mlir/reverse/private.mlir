// A private function nobody calls survives the pass's inlining, and irgrad-opt
// exports its vjp (public), so --cleanup keeps @f_vjp while it drops @f.
// RUN: irgrad-opt %s --vjp f | filecheck %s --check-prefix=RAW
// RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=CLEAN

func.func private @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %p = math.exp %x : tensor<2x3xf32>
  %q = arith.mulf %p, %x : tensor<2x3xf32>
  return %q : tensor<2x3xf32>
}

// RAW-LABEL: func.func private @f(
// RAW-LABEL: func.func @f_vjp(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>)
// RAW:         math.exp
// RAW:         return

// CLEAN-NOT:   func.func private @f(
// CLEAN-LABEL: func.func @f_vjp(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>)
// CLEAN:         math.exp
// CLEAN:         return
