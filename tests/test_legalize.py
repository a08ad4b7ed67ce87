"""runtime/legalize.py on IR alone (no IREE compile): what each rewrite leaves behind,
read through the bindings' typed API. The numbers these rewrites fix are checked by
test_long_reductions, test_generic_forms and test_vulkan_differential."""

from __future__ import annotations

import math

import numpy as np
import pytest
from iree.compiler import ir
from irgrad.runtime import backends, compiler, legalize
from irgrad.runtime.errors import IRError

SUM = """
func.func @main(%x: tensor<{n}xf32>) -> tensor<f32> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %r = linalg.generic {{indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                        iterator_types = ["reduction"]}} ins(%x : tensor<{n}xf32>) outs(%i : tensor<f32>) {{
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  }} -> tensor<f32>
  return %r : tensor<f32>
}}
"""

ARGMAX = """
func.func @main(%x: tensor<{n}xf32>) -> tensor<i32> {{
  %z = arith.constant 0xFF800000 : f32
  %zi = arith.constant 0 : i32
  %e = tensor.empty() : tensor<f32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %ei = tensor.empty() : tensor<i32>
  %ii = linalg.fill ins(%zi : i32) outs(%ei : tensor<i32>) -> tensor<i32>
  %r:2 = linalg.generic {{indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>,
                                           affine_map<(d0) -> ()>],
                          iterator_types = ["reduction"]}} ins(%x : tensor<{n}xf32>)
                          outs(%i, %ii : tensor<f32>, tensor<i32>) {{
  ^bb0(%a: f32, %best: f32, %at: i32):
    %k = linalg.index 0 : index
    %ki = arith.index_cast %k : index to i32
    %gt = arith.cmpf ogt, %a, %best : f32
    %v = arith.select %gt, %a, %best : f32
    %j = arith.select %gt, %ki, %at : i32
    linalg.yield %v, %j : f32, i32
  }} -> (tensor<f32>, tensor<i32>)
  return %r#1 : tensor<i32>
}}
"""

# The adjoint x^T @ g of a matmul as the reverse pass writes it: loops (k, i, j) -> (j, i).
TRANSPOSED = """
func.func @main(%x: tensor<5x6xf32>, %g: tensor<5x4xf32>) -> tensor<6x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<6x4xf32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<6x4xf32>) -> tensor<6x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>,
                                        affine_map<(d0, d1, d2) -> (d2, d1)>],
                       iterator_types = ["reduction", "parallel", "parallel"]}
       ins(%x, %g : tensor<5x6xf32>, tensor<5x4xf32>) outs(%i : tensor<6x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  } -> tensor<6x4xf32>
  return %r : tensor<6x4xf32>
}
"""

# Two outputs written in opposite loop orders: no loop order serves both.
CONFLICT = """
func.func @main(%x: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<4x3xf32>) {
  %e = tensor.empty() : tensor<3x4xf32>
  %f = tensor.empty() : tensor<4x3xf32>
  %r:2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>,
                                          affine_map<(d0, d1) -> (d1, d0)>],
                         iterator_types = ["parallel", "parallel"]}
       ins(%x : tensor<3x4xf32>) outs(%e, %f : tensor<3x4xf32>, tensor<4x3xf32>) {
  ^bb0(%a: f32, %o: f32, %p: f32):
    linalg.yield %a, %a : f32, f32
  } -> (tensor<3x4xf32>, tensor<4x3xf32>)
  return %r#0, %r#1 : tensor<3x4xf32>, tensor<4x3xf32>
}
"""

MATMUL = """
func.func @main(%a: tensor<2x{k}xf32>, %b: tensor<{k}x3xf32>) -> tensor<2x3xf32> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %i = linalg.fill ins(%z : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.matmul ins(%a, %b : tensor<2x{k}xf32>, tensor<{k}x3xf32>) outs(%i : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}}
"""


def generics(module):
    return legalize.ops_named(module, "linalg.generic")


def reduction_lengths(module):
    """Per generic, the number of elements each output element reduces."""
    out = []
    for op in generics(module):
        sizes = {}
        for a, v in zip(op.attributes["indexing_maps"], op.operands):
            for r, n in zip(ir.AffineMapAttr(a).value.results, ir.RankedTensorType(v.type).shape):
                sizes[r.position] = n
        kinds = [str(a) for a in op.attributes["iterator_types"]]
        out.append(math.prod(sizes[d] for d, k in enumerate(kinds) if "reduction" in k))
    return out


@pytest.fixture
def context():
    with ir.Context() as ctx:
        yield ctx


def test_long_sum_becomes_a_tree_of_short_blocks(context):
    module = ir.Module.parse(SUM.format(n=100_000))
    assert legalize.split_long_reductions(module, "llvm-cpu") > 1
    assert module.operation.verify()
    lengths = reduction_lengths(module)
    assert max(lengths) <= legalize.LONG and len(lengths) > 3, lengths


def test_short_sum_is_left_alone(context):
    module = ir.Module.parse(SUM.format(n=legalize.LONG))
    before = str(module)
    assert legalize.split_long_reductions(module, "llvm-cpu") == 0
    assert str(module) == before


def test_argmax_on_cpu_is_left_alone_and_on_vulkan_cut_in_fenced_pieces(context):
    cpu = ir.Module.parse(ARGMAX.format(n=140_000))
    assert legalize.split_long_reductions(cpu, "llvm-cpu") == 0
    vk = ir.Module.parse(ARGMAX.format(n=140_000))
    legalize.split_long_reductions(vk, "vulkan-spirv")
    assert vk.operation.verify()
    lengths = reduction_lengths(vk)
    assert sum(lengths) == 140_000 and max(lengths) <= backends.backend("vulkan").max_reduction, lengths
    assert len(legalize.ops_named(vk, "util.optimization_barrier")) == 2 * (len(lengths) - 1)


def out_dims(op):
    n_in = len(op.operands) - len(op.results)
    maps = [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    return [[r.position for r in m.results] for m in maps[n_in:]]


def einsum_of(op):
    """The generic as an einsum over its operands' shapes: same spec <=> same contraction."""
    maps = [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    letters = "abcdefgh"
    specs = ["".join(letters[r.position] for r in m.results) for m in maps]
    return ",".join(specs[:-1]) + "->" + specs[-1]


def test_vulkan_writes_outputs_in_loop_order_and_computes_the_same(context):
    module = ir.Module.parse(TRANSPOSED)
    (op,) = generics(module)
    before = einsum_of(op)
    assert legalize.order_output_loops(op, elementwise_only=False)
    assert module.operation.verify()
    assert out_dims(op) == [[1, 2]]
    after = einsum_of(op)
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((5, 6)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(np.einsum(after, x, g), np.einsum(before, x, g))
    np.testing.assert_allclose(np.einsum(after, x, g), x.T @ g)
    kinds = ["reduction" in str(a) for a in op.attributes["iterator_types"]]
    assert kinds == [True, False, False]


def test_cpu_leaves_contractions_in_their_order(context):
    module = ir.Module.parse(TRANSPOSED)
    (op,) = generics(module)
    assert not legalize.order_output_loops(op, elementwise_only=True)


def test_conflicting_output_orders_refuse_on_vulkan(context):
    module = ir.Module.parse(CONFLICT)
    (op,) = generics(module)
    with pytest.raises(IRError, match="opposite loop orders"):
        legalize.order_output_loops(op, elementwise_only=False)
    assert not legalize.order_output_loops(op, elementwise_only=True)


def test_long_matmul_is_generalized_and_split(context):
    short = ir.Module.parse(MATMUL.format(k=100))
    assert legalize.generalize_long_matmuls(short) == 0
    long = ir.Module.parse(MATMUL.format(k=5000))
    assert legalize.generalize_long_matmuls(long) == 1
    assert not legalize.ops_named(long, "linalg.matmul")
    (op,) = generics(long)
    assert einsum_of(op) == "ac,cb->ab"
    legalize.split_long_reductions(long, "llvm-cpu")
    assert long.operation.verify() and max(reduction_lengths(long)) <= legalize.LONG


@pytest.mark.parametrize("target", ["llvm-cpu", "vulkan-spirv"])
def test_prepare_legalizes_both_attempts(target):
    """The fused module and the plain fallback both go to iree-compile legalized."""
    attempts = compiler.prepare(SUM.format(n=200_000), target)
    assert len(attempts) == 2
    for text, _ in attempts:
        with ir.Context():
            lengths = reduction_lengths(ir.Module.parse(text))
        assert max(lengths) <= legalize.LONG, lengths
