"""The batching (vmap) pass on hand-written MLIR, checked against `jax.vmap`.

Each suite is one MLIR module holding several functions. `batching.vmap` runs on it
once per case (one function can be batched several ways: each case names its own
@F_<tag>), the module is compiled once by IREE, and each batched function is called
on random batched inputs and compared with `jax.vmap` of the same function written
in jax.numpy, with the same in_axes and out_axes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from irgrad.passes import batching, forward, reverse
from irgrad.passes.ir import IRError, building, ir
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable
from test_reverse_pass import jax_vjp_fn, only_public, run_opt

B = 5  # the batch size: no per-example dimension has this size, so a misplaced batch shows
MAPS = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
#v = affine_map<(d0) -> (d0)>
#s = affine_map<(d0) -> ()>
#s2 = affine_map<(d0, d1) -> ()>
"""


# ---------------------------------------------------------------------- machinery

def normal(rng, shape, dtype):
    if np.dtype(dtype).kind == "i":
        return rng.integers(-3, 4, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@dataclass
class Case:
    """vmap(@fn, in_axes, out_axes) and the jax.numpy twin of @fn.

    `shapes`: one example's argument shapes (() for an f32 scalar argument: batched, it
    becomes a tensor<B x f32>); `dtypes`: their dtypes (f32 by default); `make`: the
    input maker (rng, shape, dtype) -> array."""
    fn: str
    jax_fn: object
    shapes: list
    in_axes: list
    out_axes: object = 0
    dtypes: list = field(default_factory=list)
    make: object = normal

    @property
    def entry(self):
        tag = lambda a: "n" if a is None else str(a).replace("-", "m")
        outs = self.out_axes if isinstance(self.out_axes, list) else [self.out_axes]
        return f"{self.fn}_{''.join(map(tag, self.in_axes))}_{''.join(map(tag, outs))}"

    def inputs(self, rng):
        dtypes = self.dtypes or [np.float32] * len(self.shapes)
        args = []
        for shape, a, dt in zip(self.shapes, self.in_axes, dtypes):
            shape = list(shape)
            if a is not None:
                shape.insert(a % (len(shape) + 1), B)
            args.append(self.make(rng, tuple(shape), dt))
        return args

    def expected(self, args):
        out_axes = tuple(self.out_axes) if isinstance(self.out_axes, list) else self.out_axes
        out = jax.jit(jax.vmap(self.jax_fn, in_axes=tuple(self.in_axes), out_axes=out_axes))(*args)
        return [np.asarray(o) for o in (out if isinstance(out, tuple) else [out])]


class Suite:
    """A module whose functions are batched by the cases, compiled once."""

    def __init__(self, source, cases, name):
        self.cases = {c.entry: c for c in cases}
        self.errors = {}
        with building():
            module = ir.Module.parse(MAPS + source)
            for c in cases:
                try:
                    batching.vmap(module, c.fn, c.in_axes, c.out_axes, axis_size=B, new_name=c.entry)
                except IRError as e:
                    self.errors[c.entry] = str(e)
            self.text = str(module)
        entries = [e for e in self.cases if e not in self.errors]
        self.vmfb = compile_mlir(only_public(self.text, entries), name=name)

    def call(self, entry, args):
        return [np.asarray(r.to_host()) for r in Executable(self.vmfb, entry)(*args)]

    def check(self, entry, seed=0, rtol=2e-5, atol=2e-5):
        assert entry not in self.errors, self.errors[entry]
        case = self.cases[entry]
        args = case.inputs(np.random.default_rng(seed))
        got, expected = self.call(entry, args), case.expected(args)
        assert len(got) == len(expected)
        for k, (g, e) in enumerate(zip(got, expected)):
            assert g.shape == e.shape, (k, g.shape, e.shape)
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"result {k}")


# ------------------------------------------------------------------- linalg ops

LINALG_SRC = """
// tanh(x * y[j] + r[i]): broadcast maps
func.func @ew(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %r: tensor<2xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y, %r : tensor<2x3xf32>, tensor<3xf32>, tensor<2xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.addf %p, %c : f32
    %t = math.tanh %q : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// x^T * y: a transposed read
func.func @tr(%x: tensor<3x2xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#tr, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<3x2xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

func.func @row_sum(%x: tensor<2x3xf32>) -> tensor<2xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2xf32>) -> tensor<2xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%f : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = arith.mulf %a, %a : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

func.func @col_max(%x: tensor<2x3xf32>) -> tensor<3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// init + sum(x, axis=1): the accumulator's initial value is an argument
func.func @sum_init(%x: tensor<2x3xf32>, %init: tensor<2xf32>) -> tensor<2xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%init : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// sum(exp(x)) as a 0-d tensor
func.func @total(%x: tensor<2x3xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %0 = linalg.generic {indexing_maps = [#id, #s2], iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = math.exp %a : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %0 : tensor<f32>
}

func.func @matmul(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// a @ b + c: the accumulator is an argument
func.func @matmul_acc(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%c : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// transpose, broadcast and reduce (named ops), two results
func.func @named(%x: tensor<2x3xf32>, %v: tensor<2xf32>) -> (tensor<3x2xf32>, tensor<2xf32>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  %b = linalg.broadcast ins(%v : tensor<2xf32>) outs(%e : tensor<3x2xf32>) dimensions = [0]
  %p = arith.mulf %t, %b : tensor<3x2xf32>
  %e2 = tensor.empty() : tensor<2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e2 : tensor<2xf32>) -> tensor<2xf32>
  %r = linalg.reduce ins(%p : tensor<3x2xf32>) outs(%f : tensor<2xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %p, %r : tensor<3x2xf32>, tensor<2xf32>
}

// fill from an f32 argument, and the body reads it (and a constant) from outside
func.func @scalar(%x: tensor<2x3xf32>, %s: f32) -> tensor<2x3xf32> {
  %k = arith.constant 1.5 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%s : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %f : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %s : f32
    %q = arith.addf %p, %k : f32
    %r = math.sin %q : f32
    %t = arith.addf %r, %b : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// x[i, j] * (i + 2j) * t[j]: linalg.index, and a gather from %t in the body
func.func @index_gather(%x: tensor<2x3xf32>, %t: tensor<3xf32>) -> tensor<2x3xf32> {
  %two = arith.constant 2 : index
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %j2 = arith.muli %j, %two : index
    %k = arith.addi %i, %j2 : index
    %ki = arith.index_cast %k : index to i32
    %kf = arith.sitofp %ki : i32 to f32
    %tj = tensor.extract %t[%j] : tensor<3xf32>
    %p = arith.mulf %a, %kf : f32
    %v = arith.mulf %p, %tj : f32
    linalg.yield %v : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// one generic, two outputs: x * y and sin(x) - y
func.func @two_outputs(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %e = tensor.empty() : tensor<2x3xf32>
  %0:2 = linalg.generic {indexing_maps = [#id, #col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<2x3xf32>, tensor<3xf32>) outs(%e, %e : tensor<2x3xf32>, tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32, %o2: f32):
    %p = arith.mulf %a, %b : f32
    %s = math.sin %a : f32
    %d = arith.subf %s, %b : f32
    linalg.yield %p, %d : f32, f32
  } -> (tensor<2x3xf32>, tensor<2x3xf32>)
  return %0#0, %0#1 : tensor<2x3xf32>, tensor<2x3xf32>
}
"""


def _named(x, v):
    p = x.T * v[None, :]
    return p, p.sum(0)


def _index_gather(x, t):
    i, j = np.arange(2)[:, None], np.arange(3)[None, :]
    return x * (i + 2 * j).astype(np.float32) * t[None, :]


LINALG_CASES = [
    Case("ew", lambda x, y, r: jnp.tanh(x * y + r[:, None]), [(2, 3), (3,), (2,)], [0, None, None]),
    Case("ew", lambda x, y, r: jnp.tanh(x * y + r[:, None]), [(2, 3), (3,), (2,)], [None, 0, None]),
    Case("ew", lambda x, y, r: jnp.tanh(x * y + r[:, None]), [(2, 3), (3,), (2,)], [1, 1, None], out_axes=1),
    Case("ew", lambda x, y, r: jnp.tanh(x * y + r[:, None]), [(2, 3), (3,), (2,)], [-1, 0, 0], out_axes=-1),
    Case("tr", lambda x, y: x.T * y, [(3, 2), (2, 3)], [1, 2]),
    Case("row_sum", lambda x: jnp.sum(x * x, axis=1), [(2, 3)], [0]),
    Case("row_sum", lambda x: jnp.sum(x * x, axis=1), [(2, 3)], [2], out_axes=1),
    Case("col_max", lambda x: jnp.max(x, axis=0), [(2, 3)], [1]),
    Case("sum_init", lambda x, i: i + x.sum(1), [(2, 3), (2,)], [None, 0]),
    Case("sum_init", lambda x, i: i + x.sum(1), [(2, 3), (2,)], [0, None]),
    Case("total", lambda x: jnp.sum(jnp.exp(x)), [(2, 3)], [1]),
    Case("matmul", lambda a, b: a @ b, [(2, 3), (3, 4)], [0, None]),
    Case("matmul", lambda a, b: a @ b, [(2, 3), (3, 4)], [None, 0], out_axes=2),
    Case("matmul", lambda a, b: a @ b, [(2, 3), (3, 4)], [0, 0]),
    Case("matmul", lambda a, b: a @ b, [(2, 3), (3, 4)], [1, 2], out_axes=1),
    Case("matmul_acc", lambda a, b, c: a @ b + c, [(2, 3), (3, 4), (2, 4)], [None, None, 0]),
    Case("matmul_acc", lambda a, b, c: a @ b + c, [(2, 3), (3, 4), (2, 4)], [0, None, None]),
    Case("named", _named, [(2, 3), (2,)], [0, None], out_axes=[1, 0]),
    Case("named", _named, [(2, 3), (2,)], [None, 0]),
    Case("scalar", lambda x, s: jnp.sin(x * s + 1.5) + s, [(2, 3), ()], [None, 0]),
    Case("scalar", lambda x, s: jnp.sin(x * s + 1.5) + s, [(2, 3), ()], [1, 0], out_axes=1),
    Case("index_gather", _index_gather, [(2, 3), (3,)], [0, None]),
    Case("index_gather", _index_gather, [(2, 3), (3,)], [None, 0]),
    Case("index_gather", _index_gather, [(2, 3), (3,)], [1, 0]),
    Case("two_outputs", lambda x, y: (x * y, jnp.sin(x) - y), [(2, 3), (3,)], [None, 0], out_axes=[0, 1]),
]


@pytest.fixture(scope="module")
def linalg_suite():
    return Suite(LINALG_SRC, LINALG_CASES, "test_batching_linalg")


@pytest.mark.parametrize("entry", [c.entry for c in LINALG_CASES])
def test_linalg(linalg_suite, entry):
    linalg_suite.check(entry)


def test_batched_matmul_is_one_contraction(linalg_suite):
    """Both operands batched: one generic over (batch, i, j, k), no copy of an operand."""
    body = function_text(linalg_suite.text, "matmul_00_0")
    assert body.count("linalg.generic") == 3  # the fill, its broadcast over the batch, the contraction
    assert '["parallel", "parallel", "parallel", "reduction"]' in body


def function_text(text, name):
    start = text.index(f"func.func @{name}(")
    end = text.find("\n  func.func ", start + 1)
    return text[start:end if end > 0 else None]


# ------------------------------------------------------------------- tensor ops

TENSOR_SRC = """
func.func @slices(%x: tensor<4x6xf32>, %d: tensor<4x6xf32>) -> tensor<4x6xf32> {
  %s = tensor.extract_slice %x[1, 0] [2, 3] [2, 2] : tensor<4x6xf32> to tensor<2x3xf32>
  %t = math.tanh %s : tensor<2x3xf32>
  %r = tensor.insert_slice %t into %d[0, 1] [2, 3] [2, 1] : tensor<2x3xf32> into tensor<4x6xf32>
  return %r : tensor<4x6xf32>
}

// a rank-reducing slice: row 2 of x
func.func @row(%x: tensor<3x4xf32>) -> tensor<4xf32> {
  %s = tensor.extract_slice %x[2, 0] [1, 4] [1, 1] : tensor<3x4xf32> to tensor<4xf32>
  return %s : tensor<4xf32>
}

func.func @reshapes(%x: tensor<6xf32>, %w: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %e = tensor.expand_shape %x [[0, 1]] output_shape [2, 3] : tensor<6xf32> into tensor<2x3xf32>
  %p = arith.mulf %e, %w : tensor<2x3xf32>
  %c = tensor.collapse_shape %p [[0, 1]] : tensor<2x3xf32> into tensor<6xf32>
  %r = tensor.expand_shape %c [[0, 1]] output_shape [3, 2] : tensor<6xf32> into tensor<3x2xf32>
  return %r : tensor<3x2xf32>
}

// reshapes to and from 0-d tensors (empty reassociations)
func.func @unit_reshapes(%x: tensor<f32>, %y: tensor<1x1xf32>) -> tensor<1xf32> {
  %c = tensor.collapse_shape %y [] : tensor<1x1xf32> into tensor<f32>
  %s = arith.addf %x, %c : tensor<f32>
  %e = tensor.expand_shape %s [] output_shape [1] : tensor<f32> into tensor<1xf32>
  return %e : tensor<1xf32>
}

func.func @concat(%x: tensor<2x3xf32>, %y: tensor<2x2xf32>) -> tensor<2x5xf32> {
  %c = tensor.concat dim(1) %x, %y : (tensor<2x3xf32>, tensor<2x2xf32>) -> tensor<2x5xf32>
  return %c : tensor<2x5xf32>
}

func.func @cast(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %c = tensor.cast %x : tensor<2x3xf32> to tensor<?x3xf32>
  %e = math.exp %c : tensor<?x3xf32>
  %r = tensor.cast %e : tensor<?x3xf32> to tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// y.at[2].set(x[1, 2] ** 2): scalar ops outside any generic
func.func @extract_insert(%x: tensor<2x3xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %v = tensor.extract %x[%c1, %c2] : tensor<2x3xf32>
  %w = arith.mulf %v, %v : f32
  %r = tensor.insert %w into %y[%c2] : tensor<4xf32>
  return %r : tensor<4xf32>
}

// where(x < y, x * y, y) + k, on whole tensors
func.func @elementwise(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %k = arith.constant dense<[[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]]> : tensor<2x3xf32>
  %c = arith.cmpf olt, %x, %y : tensor<2x3xf32>
  %p = arith.mulf %x, %y : tensor<2x3xf32>
  %s = arith.select %c, %p, %y : tensor<2x3xi1>, tensor<2x3xf32>
  %r = arith.addf %s, %k : tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

func.func @int_arg(%x: tensor<2x3xf32>, %n: tensor<2x3xi32>) -> tensor<2x3xf32> {
  %nf = arith.sitofp %n : tensor<2x3xi32> to tensor<2x3xf32>
  %p = arith.mulf %x, %nf : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}

// x[n] * 2: a gather when n is batched
func.func @gather(%x: tensor<4xf32>, %n: tensor<i32>) -> tensor<f32> {
  %ni = tensor.extract %n[] : tensor<i32>
  %i = arith.index_cast %ni : i32 to index
  %v = tensor.extract %x[%i] : tensor<4xf32>
  %w = arith.addf %v, %v : f32
  %e = tensor.empty() : tensor<f32>
  %r = tensor.insert %w into %e[] : tensor<f32>
  return %r : tensor<f32>
}

// one result depends on x, the other is a constant
func.func @const_result(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %k = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %p = arith.mulf %x, %k : tensor<3xf32>
  return %p, %k : tensor<3xf32>, tensor<3xf32>
}
"""


def _slices(x, d):
    return d.at[0:4:2, 1:4].set(jnp.tanh(x[1:4:2, 0:6:2]))


def _reshapes(x, w):
    return (x.reshape(2, 3) * w).reshape(3, 2)


K23 = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]], np.float32)
K3 = np.array([1.0, 2.0, 3.0], np.float32)


def index_ints(rng, shape, dtype):
    return rng.integers(0, 4, shape).astype(dtype) if np.dtype(dtype).kind == "i" else normal(rng, shape, dtype)


TENSOR_CASES = [
    Case("slices", _slices, [(4, 6), (4, 6)], [0, None]),
    Case("slices", _slices, [(4, 6), (4, 6)], [None, 1]),
    Case("slices", _slices, [(4, 6), (4, 6)], [2, 0], out_axes=1),
    Case("row", lambda x: x[2], [(3, 4)], [1], out_axes=1),
    Case("reshapes", _reshapes, [(6,), (2, 3)], [0, None]),
    Case("reshapes", _reshapes, [(6,), (2, 3)], [1, 2], out_axes=2),
    Case("unit_reshapes", lambda x, y: (x + y.reshape(())).reshape(1), [(), (1, 1)], [0, 1]),
    Case("unit_reshapes", lambda x, y: (x + y.reshape(())).reshape(1), [(), (1, 1)], [None, 2], out_axes=1),
    Case("concat", lambda x, y: jnp.concatenate([x, y], 1), [(2, 3), (2, 2)], [0, None]),
    Case("concat", lambda x, y: jnp.concatenate([x, y], 1), [(2, 3), (2, 2)], [2, 1], out_axes=2),
    Case("cast", jnp.exp, [(2, 3)], [1]),
    Case("extract_insert", lambda x, y: y.at[2].set(x[1, 2] ** 2), [(2, 3), (4,)], [0, None]),
    Case("extract_insert", lambda x, y: y.at[2].set(x[1, 2] ** 2), [(2, 3), (4,)], [None, 0]),
    Case("extract_insert", lambda x, y: y.at[2].set(x[1, 2] ** 2), [(2, 3), (4,)], [1, 1]),
    Case("elementwise", lambda x, y: jnp.where(x < y, x * y, y) + K23, [(2, 3), (2, 3)], [0, None]),
    Case("elementwise", lambda x, y: jnp.where(x < y, x * y, y) + K23, [(2, 3), (2, 3)], [2, 0], out_axes=1),
    Case("int_arg", lambda x, n: x * n.astype(jnp.float32), [(2, 3), (2, 3)], [None, 1],
         dtypes=[np.float32, np.int32]),
    Case("gather", lambda x, n: 2 * x[n], [(4,), ()], [0, None], dtypes=[np.float32, np.int32], make=index_ints),
    Case("gather", lambda x, n: 2 * x[n], [(4,), ()], [None, 0], dtypes=[np.float32, np.int32], make=index_ints),
    Case("gather", lambda x, n: 2 * x[n], [(4,), ()], [1, 0], dtypes=[np.float32, np.int32], make=index_ints),
    Case("const_result", lambda x: (x * K3, jnp.asarray(K3)), [(3,)], [0], out_axes=[1, None]),
    Case("const_result", lambda x: (x * K3, jnp.asarray(K3)), [(3,)], [0], out_axes=[0, 1]),
]


@pytest.fixture(scope="module")
def tensor_suite():
    return Suite(TENSOR_SRC, TENSOR_CASES, "test_batching_tensor")


@pytest.mark.parametrize("entry", [c.entry for c in TENSOR_CASES])
def test_tensor_ops(tensor_suite, entry):
    tensor_suite.check(entry)


def test_unbatched_ops_are_kept(tensor_suite):
    """An op whose operands are all unbatched is cloned as it is: the constant stays 1-d."""
    body = function_text(tensor_suite.text, "const_result_0_1n")
    assert "arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>" in body
    assert "-> (tensor<3x5xf32>, tensor<3xf32>)" in body


# ------------------------------------------------------------- composing with reverse mode

COMPOSE_SRC = """
// 0.5 * sum((tanh(w^T x) - t)^2) for one example x: 3, t: 2
func.func @loss(%w: tensor<3x2xf32>, %x: tensor<3xf32>, %t: tensor<2xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %e = tensor.empty() : tensor<2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2xf32>) -> tensor<2xf32>
  %h = linalg.generic {indexing_maps = [#id, #row, #col], iterator_types = ["reduction", "parallel"]}
      ins(%w, %x : tensor<3x2xf32>, tensor<3xf32>) outs(%f : tensor<2xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %l = linalg.generic {indexing_maps = [#v, #v, #s], iterator_types = ["reduction"]}
      ins(%h, %t : tensor<2xf32>, tensor<2xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %th = math.tanh %a : f32
    %d = arith.subf %th, %b : f32
    %sq = arith.mulf %d, %d : f32
    %hs = arith.mulf %sq, %half : f32
    %s = arith.addf %acc, %hs : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %l : tensor<f32>
}

// a dot product with a max: sum(x * y) + max(x)
func.func @dot(%x: tensor<3xf32>, %y: tensor<3xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %g = linalg.fill ins(%ninf : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %0 = linalg.generic {indexing_maps = [#v, #v, #s], iterator_types = ["reduction"]}
      ins(%x, %y : tensor<3xf32>, tensor<3xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %1 = linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%x : tensor<3xf32>) outs(%g : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  %r = arith.addf %0, %1 : tensor<f32>
  return %r : tensor<f32>
}

// x[1:3] * x[0] concatenated with y: slices, a scalar extract and a concat to differentiate
func.func @pieces(%x: tensor<4xf32>, %y: tensor<2xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %s = tensor.extract_slice %x[1] [2] [1] : tensor<4xf32> to tensor<2xf32>
  %v = tensor.extract %x[%c0] : tensor<4xf32>
  %e = tensor.empty() : tensor<2xf32>
  %f = linalg.fill ins(%v : f32) outs(%e : tensor<2xf32>) -> tensor<2xf32>
  %p = arith.mulf %s, %f : tensor<2xf32>
  %c = tensor.concat dim(0) %p, %y : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  %r = math.sin %c : tensor<4xf32>
  return %r : tensor<4xf32>
}
"""


def _loss(w, x, t):
    return 0.5 * jnp.sum((jnp.tanh(x @ w) - t) ** 2)


def _dot(x, y):
    return jnp.sum(x * y) + jnp.max(x)


def _pieces(x, y):
    return jnp.sin(jnp.concatenate([x[1:3] * x[0], y]))


def compose_module():
    """COMPOSE_SRC with, for each composition, its functions added; returns (text, entries)."""
    with building():
        module = ir.Module.parse(MAPS + COMPOSE_SRC)
        # per-example gradients: vmap of a vjp (w shared, x, t and the cotangent per example)
        reverse.vjp(module, "loss")
        batching.vmap(module, "loss_vjp", [None, 0, 0, None], axis_size=B, new_name="pex_grads")
        # the gradient of a batched function: vjp of a vmap
        batching.vmap(module, "loss", [None, 0, 1], axis_size=B, new_name="loss_b")
        reverse.vjp(module, "loss_b", new_name="loss_b_vjp")
        # vmap of vmap: the inner batch over x (y shared), the outer over y (x shared)
        batching.vmap(module, "dot", [0, None], axis_size=B, new_name="dot_b")
        batching.vmap(module, "dot_b", [None, 0], out_axes=1, axis_size=4, new_name="dot_bb")
        # the gradient of a vmap of a vmap, and the vmap of that gradient
        reverse.vjp(module, "dot_bb", new_name="dot_bb_vjp")
        batching.vmap(module, "dot_bb_vjp", [None, None, 0], axis_size=2, new_name="dot_bb_vjp_b")
        # slices, extract and concat, each way round
        batching.vmap(module, "pieces", [0, None], axis_size=B, new_name="pieces_b")
        reverse.vjp(module, "pieces_b", new_name="pieces_b_vjp")
        reverse.vjp(module, "pieces")
        batching.vmap(module, "pieces_vjp", [0, None, 1], axis_size=B, new_name="pieces_vjp_b")
        # forward mode: B tangents at one point (a Jacobian), and the jvp of a batched function
        forward.jvp(module, "loss")
        batching.vmap(module, "loss_jvp", [None, None, None, 0, 0, 0], axis_size=B, new_name="loss_jvp_b")
        forward.jvp(module, "dot_bb", new_name="dot_bb_jvp")
        return str(module)


COMPOSE_ENTRIES = ["pex_grads", "loss_b_vjp", "dot_bb", "dot_bb_vjp", "dot_bb_vjp_b", "pieces_b_vjp", "pieces_vjp_b",
                   "loss_jvp_b", "dot_bb_jvp"]


@pytest.fixture(scope="module")
def compose_vmfb():
    text = compose_module()
    return compile_mlir(only_public(text, COMPOSE_ENTRIES), name="test_batching_compose")


def _vjp_of(f):
    """(args..., ct) -> (f(args), cotangents of all args): the twin of @F_vjp."""
    return jax_vjp_fn(f)


def _jvp_of(f):
    """(args..., tangents...) -> (f(args), tangent of the result): the twin of @F_jvp."""
    def f_jvp(*args):
        n = len(args) // 2
        return jax.jvp(f, args[:n], args[n:])
    return f_jvp


_dot_b = jax.vmap(_dot, in_axes=(0, None))
_dot_bb = jax.vmap(_dot_b, in_axes=(None, 0), out_axes=1)
COMPOSE_CASES = {
    # name: (jax twin of the entry, shapes of its arguments)
    "pex_grads": (jax.vmap(_vjp_of(_loss), in_axes=(None, 0, 0, None)), [(3, 2), (B, 3), (B, 2), ()]),
    "loss_b_vjp": (_vjp_of(jax.vmap(_loss, in_axes=(None, 0, 1))), [(3, 2), (B, 3), (2, B), (B,)]),
    "dot_bb": (_dot_bb, [(B, 3), (4, 3)]),
    "dot_bb_vjp": (_vjp_of(_dot_bb), [(B, 3), (4, 3), (B, 4)]),
    "dot_bb_vjp_b": (jax.vmap(_vjp_of(_dot_bb), in_axes=(None, None, 0)), [(B, 3), (4, 3), (2, B, 4)]),
    "pieces_b_vjp": (_vjp_of(jax.vmap(_pieces, in_axes=(0, None))), [(B, 4), (2,), (B, 4)]),
    "pieces_vjp_b": (jax.vmap(_vjp_of(_pieces), in_axes=(0, None, 1)), [(B, 4), (2,), (4, B)]),
    "loss_jvp_b": (jax.vmap(_jvp_of(_loss), in_axes=(None, None, None, 0, 0, 0)),
                   [(3, 2), (3,), (2,), (B, 3, 2), (B, 3), (B, 2)]),
    "dot_bb_jvp": (_jvp_of(_dot_bb), [(B, 3), (4, 3), (B, 3), (4, 3)]),
}


@pytest.mark.parametrize("entry", COMPOSE_ENTRIES)
def test_composition(compose_vmfb, entry):
    jax_fn, shapes = COMPOSE_CASES[entry]
    rng = np.random.default_rng(4)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = jax.jit(jax_fn)(*args)
    expected = [np.asarray(o) for o in (out if isinstance(out, (tuple, list)) else [out])]
    got = [np.asarray(r.to_host()) for r in Executable(compose_vmfb, entry)(*args)]
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, (k, g.shape, e.shape)
        np.testing.assert_allclose(g, e, rtol=5e-5, atol=5e-5, err_msg=f"result {k}")


# ----------------------------------------------------------------------------- errors

PAD_SRC = """
func.func @f(%x: tensor<2x3xf32>) -> tensor<4x5xf32> {
  %z = arith.constant 0.0 : f32
  %p = tensor.pad %x low[1, 1] high[1, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %z : f32
  } : tensor<2x3xf32> to tensor<4x5xf32> loc("model.py":7:3)
  return %p : tensor<4x5xf32>
}
"""
SCATTER_SRC = """
func.func @f(%x: tensor<4xf32>, %n: tensor<i32>) -> tensor<4xf32> {
  %ni = tensor.extract %n[] : tensor<i32>
  %i = arith.index_cast %ni : i32 to index
  %c = arith.constant 1.0 : f32
  %r = tensor.insert %c into %x[%i] : tensor<4xf32>
  return %r : tensor<4xf32>
}
"""
ERRORS = [
    ("pad", PAD_SRC, dict(in_axes=[0]), ["no batching rule for 'tensor.pad'", "model.py"]),
    ("scatter", SCATTER_SRC, dict(in_axes=[None, 0]), ["'tensor.insert'", "gather or scatter"]),
    ("in_axes_count", PAD_SRC, dict(in_axes=[0, 0]), ["in_axes has 2 entries for 1 arguments"]),
    ("in_axes_range", PAD_SRC, dict(in_axes=[3]), ["in_axes entry 3 is out of range"]),
    ("out_axes_none", SCATTER_SRC, dict(in_axes=[0, None], out_axes=None), ["out_axes is None for result 0"]),
    ("no_size", PAD_SRC, dict(in_axes=[0], axis_size=None), ["axis_size is required"]),
    ("unknown_function", PAD_SRC, dict(in_axes=[0], name="g"), ["no function @g"]),
]


@pytest.mark.parametrize("src,kwargs,needles", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(src, kwargs, needles):
    kwargs = {"name": "f", "axis_size": B, **kwargs}
    with building():
        module = ir.Module.parse(src)
        with pytest.raises(IRError) as info:
            batching.vmap(module, kwargs.pop("name"), **kwargs)
        for needle in needles:
            assert needle in str(info.value), (needle, str(info.value))
        if "@g" not in needles[0]:
            assert "_batched" not in str(module)  # a failed vmap leaves no half-built function


# ----------------------------------------------------------------------------- irgrad-opt

def test_opt_vmap():
    """irgrad-opt --vmap F --in-axes 0,none --out-axes 1 --axis-size 5, compiled and run."""
    status, out, err = run_opt(["-", "--vmap", "ew", "--in-axes", "0,none,-1", "--out-axes", "1",
                                "--axis-size", str(B)], stdin_text=MAPS + LINALG_SRC)
    assert status == 0, err
    assert len(re.findall(r"func\.func @ew_batched\(", out)) == 1
    case = Case("ew", lambda x, y, r: jnp.tanh(x * y + r[:, None]), [(2, 3), (3,), (2,)], [0, None, -1], out_axes=1)
    args = case.inputs(np.random.default_rng(5))
    vmfb = compile_mlir(only_public(out, ["ew_batched"]), name="test_batching_opt")
    got = [np.asarray(r.to_host()) for r in Executable(vmfb, "ew_batched")(*args)]
    np.testing.assert_allclose(got[0], case.expected(args)[0], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("args,needle", [
    (["--in-axes", "0,none", "--axis-size", "5"], "in_axes has 2 entries for 3 arguments"),
    (["--in-axes", "0,x,0", "--axis-size", "5"], "--in-axes expects"),
    (["--in-axes", "0,0,0", "--axis-size", "5", "--out-axes", "0,0"], "out_axes has 2 entries for 1 results"),
    (["--in-axes", "0,0,0"], "--axis-size"),
    (["--in-axes", "0,0,0", "--axis-size", "5", "--out-axes", "3"], "out_axes entry 3 is out of range"),
])
def test_opt_vmap_errors(args, needle):
    status, out, err = run_opt(["-", "--vmap", "ew", *args], stdin_text=MAPS + LINALG_SRC)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("irgrad-opt: error: ") and needle in err, err


def test_opt_vmap_excludes_vjp():
    with pytest.raises(SystemExit):
        run_opt(["-", "--vmap", "ew", "--vjp", "ew", "--in-axes", "0,0,0"], stdin_text=MAPS + LINALG_SRC)
