"""Table-driven primitive tests: one row per irgrad.numpy function, checked against JAX.

A row is a function `fn(np_, *xs)` written once against a NumPy-like namespace and
run three ways: `np_` = irgrad.numpy (under test), jax.numpy (the oracle) and
numpy on float64 inputs (the finite-difference reference). For every row:

(a) eager values, dtype and weak_type against JAX;
(b) jitted values against JAX;
(c) the gradient of `sum(fn(*xs) * w)` (w fixed random weights) w.r.t. every input
    against `jax.grad`;
(d) the same gradient against central differences of the float64 NumPy version
    along random directions;
(e) for rows marked `order2`, the gradient of `<grad(...), v>` against JAX.

IREE compiles are the expensive part, so the rows of one chunk (up to CHUNK rows
of one table) are compiled together: one function for (b)+(c), one for (e). When
a chunk fails to build or compile, its rows are compiled one by one so the error
names the row.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402

CHUNK = 12


@dataclass(frozen=True)
class Row:
    name: str
    fn: Callable            # fn(np_, *xs) -> array, np_ one of irgrad.numpy / jax.numpy / numpy
    shapes: tuple           # one shape per float32 input
    domain: object = "any"  # a DOMAINS key, or one key per input
    rtol: float = 2e-6
    atol: float = 1e-6
    grad: bool = True       # differentiate (the output is float)
    fd: bool = True         # compare the gradient with float64 finite differences
    order2: bool = False    # check grad-of-grad against JAX


def _grid(rng, shape, k):
    """Distinct values 0.25 apart, offset by 0.1 * (k + 1): no ties within an input,
    inputs k and k' never closer than 0.1, never near an integer or a half."""
    n = int(np.prod(shape, dtype=np.int64))
    vals = (rng.permutation(n) - n // 2) * 0.25 + 0.1 * ((k % 2) + 1)
    return vals.reshape(shape)


DOMAINS = {
    "any": lambda rng, s, k: rng.uniform(-2.0, 2.0, s),
    "pos": lambda rng, s, k: rng.uniform(0.5, 2.0, s),
    "near1": lambda rng, s, k: rng.uniform(0.7, 1.3, s),
    "unit": lambda rng, s, k: rng.uniform(-0.8, 0.8, s),
    "gt1": lambda rng, s, k: rng.uniform(1.2, 3.0, s),
    "away": lambda rng, s, k: rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 2.0, s),
    "divisor": lambda rng, s, k: rng.choice([-1.0, 1.0], s) * rng.uniform(0.7, 1.5, s),
    "grid": _grid,
    # Kinks on purpose: zeros and ties everywhere (JAX's conventions decide the numbers).
    "ties": lambda rng, s, k: rng.choice([-1.0, 0.0, 1.0, 2.0], s),
}


def make_inputs(row: Row):
    rng = np.random.default_rng(zlib.crc32(row.name.encode()))
    doms = [row.domain] * len(row.shapes) if isinstance(row.domain, str) else list(row.domain)
    return [np.asarray(DOMAINS[d](rng, s, k), np.float32) for k, (s, d) in enumerate(zip(row.shapes, doms))]


def R(name, fn, *shapes, **kw):
    return Row(name, fn, tuple(shapes), **kw)


S34 = (3, 4)
S234 = (2, 3, 4)

UNARY = [
    R("exp", lambda np_, x: np_.exp(x), S34, order2=True),
    R("log", lambda np_, x: np_.log(x), S34, domain="pos", order2=True),
    R("log1p", lambda np_, x: np_.log1p(x), S34, domain="pos", order2=True),
    R("expm1", lambda np_, x: np_.expm1(x), S34, order2=True),
    R("sqrt", lambda np_, x: np_.sqrt(x), S34, domain="pos", order2=True),
    R("tanh", lambda np_, x: np_.tanh(x), S34, order2=True),
    R("sin", lambda np_, x: np_.sin(x), S34, order2=True),
    R("cos", lambda np_, x: np_.cos(x), S34, order2=True),
    R("tan", lambda np_, x: np_.tan(x), S34, domain="unit", order2=True),
    R("abs", lambda np_, x: np_.abs(x), S34, domain="away", order2=True),
    R("sign", lambda np_, x: np_.sign(x), S34, domain="away"),
    R("arctan", lambda np_, x: np_.arctan(x), S34, order2=True),
    R("arcsin", lambda np_, x: np_.arcsin(x), S34, domain="unit", order2=True),
    R("arccos", lambda np_, x: np_.arccos(x), S34, domain="unit"),
    R("sinh", lambda np_, x: np_.sinh(x), S34, order2=True),
    R("cosh", lambda np_, x: np_.cosh(x), S34, order2=True),
    R("arcsinh", lambda np_, x: np_.arcsinh(x), S34, order2=True),
    R("arccosh", lambda np_, x: np_.arccosh(x), S34, domain="gt1"),
    R("arctanh", lambda np_, x: np_.arctanh(x), S34, domain="unit", order2=True),
    R("exp2", lambda np_, x: np_.exp2(x), S34),
    R("log2", lambda np_, x: np_.log2(x), S34, domain="pos"),
    R("log10", lambda np_, x: np_.log10(x), S34, domain="pos"),
    R("cbrt", lambda np_, x: np_.cbrt(x), S34, domain="away"),
    R("negative", lambda np_, x: np_.negative(x), S34),
    R("neg_operator", lambda np_, x: -x, (5,)),
    R("square", lambda np_, x: np_.square(x), S34, order2=True),
    R("reciprocal", lambda np_, x: np_.reciprocal(x), S34, domain="away", order2=True),
    R("floor", lambda np_, x: np_.floor(x), S34, domain="grid"),
    R("ceil", lambda np_, x: np_.ceil(x), S34, domain="grid"),
    R("round", lambda np_, x: np_.round(x), S34, domain="grid"),
    R("trunc", lambda np_, x: np_.trunc(x), S34, domain="grid"),
    R("exp_scalar", lambda np_, x: np_.exp(x), ()),
    R("tanh_vector", lambda np_, x: np_.tanh(x), (7,)),
]

BINARY = [
    R("add", lambda np_, x, y: np_.add(x, y), S34, S34),
    R("subtract", lambda np_, x, y: np_.subtract(x, y), S34, S34),
    R("multiply", lambda np_, x, y: np_.multiply(x, y), S34, S34, order2=True),
    R("divide", lambda np_, x, y: np_.divide(x, y), S34, S34, domain=("any", "away"), order2=True),
    R("power", lambda np_, x, y: np_.power(x, y), S34, S34, domain=("pos", "any"), rtol=1e-5, order2=True),
    R("power_int2", lambda np_, x: x ** 2, S34, order2=True),
    R("power_int3", lambda np_, x: x ** 3, S34, order2=True),
    R("power_int_neg1", lambda np_, x: x ** -1, S34, domain="away", order2=True),
    R("power_int0", lambda np_, x: x ** 0, S34),
    R("power_float_scalar", lambda np_, x: x ** 0.5, S34, domain="pos"),
    R("maximum", lambda np_, x, y: np_.maximum(x, y), S34, S34, domain="grid"),
    R("minimum", lambda np_, x, y: np_.minimum(x, y), S34, S34, domain="grid"),
    R("arctan2", lambda np_, x, y: np_.arctan2(x, y), S34, S34, domain="away", order2=True),
    R("remainder", lambda np_, x, y: np_.remainder(x, y), S34, S34, domain=("any", "divisor"), rtol=1e-5),
    R("where", lambda np_, x, y: np_.where(x > y, x, y * 2.0), S34, S34, domain="grid"),
    R("clip", lambda np_, x: np_.clip(x, -0.5, 0.5), S34, domain="grid"),
    R("logaddexp", lambda np_, x, y: np_.logaddexp(x, y), S34, S34, domain="grid"),
    R("scalar_ops", lambda np_, x: (2 * x - 1) / 3.0 + 1.0 / (x * x + 1), S34),
    R("rsub_rdiv", lambda np_, x: 1 - 2.0 / x, S34, domain="away"),
    R("bcast_col_row", lambda np_, x, y: x + y, (3, 1), (4,), order2=True),
    R("bcast_outer_mul", lambda np_, x, y: x * y, (3, 1), (1, 4)),
    R("bcast_3d_vec", lambda np_, x, y: x * y, S234, (4,)),
    R("bcast_divide_col", lambda np_, x, y: x / y, S34, (3, 1), domain=("any", "away")),
    R("bcast_maximum", lambda np_, x, y: np_.maximum(x, y), (3, 1), (4,), domain="grid"),
    R("bcast_scalar_input", lambda np_, x, y: x * y + y, (), S34),
]


def _reductions():
    rows = []
    cases = [(None, False), (1, False), ((0, 2), False), (-1, True), ((0, 1), True)]
    for op, dom in [("sum", "any"), ("mean", "any"), ("max", "grid"), ("min", "grid"), ("prod", "near1")]:
        for axis, keep in cases:
            name = f"{op}_axis{axis}".replace(" ", "").replace("(", "").replace(")", "").replace(",", "_")
            name += "_keepdims" if keep else ""
            rows.append(R(name, lambda np_, x, op=op, axis=axis, keep=keep:
                          getattr(np_, op)(x, axis=axis, keepdims=keep), S234, domain=dom,
                          rtol=1e-5, order2=op in ("prod", "max") and axis == 1))
    rows += [
        R("sum_method", lambda np_, x: x.sum(axis=0), S34),
        R("mean_method", lambda np_, x: x.mean(), S34),
        R("sum_scalar", lambda np_, x: np_.sum(x), ()),
        R("max_vector", lambda np_, x: np_.max(x), (6,), domain="grid"),
        R("std", lambda np_, x: np_.std(x, axis=1), S34),
    # sum(x * v) with v broadcast along a summed dim once hit an IREE vector.contract bug.
    R("sum_broadcast_product", lambda np_, x, v: np_.sum(x * v), S34, (4,), rtol=1e-5),
    R("sum_broadcast_scalar_grad", lambda np_, s, x, v: np_.sum(x / (s * s + 1), axis=0) * v, (), S34, (4,)),
    ]
    return rows


REDUCTIONS = _reductions()

LINALG = [
    R("dot_2d", lambda np_, x, y: np_.dot(x, y), (3, 4), (4, 5), rtol=1e-5, order2=True),
    R("dot_1d", lambda np_, x, y: np_.dot(x, y), (4,), (4,), rtol=1e-5),
    R("dot_2d_1d", lambda np_, x, y: np_.dot(x, y), (3, 4), (4,), rtol=1e-5),
    R("matmul_operator", lambda np_, x, y: x @ y, (3, 4), (4, 2), rtol=1e-5),
    R("matmul_1d_2d", lambda np_, x, y: np_.matmul(x, y), (4,), (4, 3), rtol=1e-5),
    R("matmul_2d_1d", lambda np_, x, y: np_.matmul(x, y), (3, 4), (4,), rtol=1e-5),
    R("matmul_batched", lambda np_, x, y: np_.matmul(x, y), (2, 3, 4), (2, 4, 5), rtol=1e-5, order2=True),
    R("matmul_batch_bcast_2d", lambda np_, x, y: np_.matmul(x, y), (2, 3, 4), (4, 5), rtol=1e-5),
    R("matmul_batch_bcast_1", lambda np_, x, y: np_.matmul(x, y), (2, 1, 3, 4), (3, 4, 2), rtol=1e-5),
    R("vdot", lambda np_, x, y: np_.vdot(x, y), S34, S34, rtol=1e-5),
    R("outer", lambda np_, x, y: np_.outer(x, y), (3,), (4,)),
    R("trace", lambda np_, x: np_.trace(x), (4, 4)),
    R("trace_offset", lambda np_, x: np_.trace(x, offset=1), (3, 5)),
    R("dot_3d_2d", lambda np_, x, y: np_.dot(x, y), (2, 3, 4), (4, 2), rtol=1e-5),
    R("matmul_1d_3d", lambda np_, x, y: np_.matmul(x, y), (4,), (2, 4, 3), rtol=1e-5),
    R("tensordot_2", lambda np_, x, y: np_.tensordot(x, y, axes=2), (2, 3, 4), (3, 4, 2), rtol=1e-5),
    R("inner", lambda np_, x, y: np_.inner(x, y), (3, 4), (2, 4), rtol=1e-5),
    R("mlp_layer", lambda np_, x, w, b: np_.tanh(x @ w + b), (5, 3), (3, 4), (4,), rtol=1e-5, order2=True),
]

SHAPES = [
    R("T", lambda np_, x: x.T, S34),
    R("transpose_3d", lambda np_, x: np_.transpose(x, (1, 2, 0)), S234, order2=True),
    R("reshape", lambda np_, x: np_.reshape(x, (4, 3)), S34),
    R("reshape_minus1", lambda np_, x: x.reshape(6, -1), S234),
    R("ravel", lambda np_, x: np_.ravel(x), S234),
    R("expand_dims_0", lambda np_, x: np_.expand_dims(x, 0), S34),
    R("expand_dims_neg", lambda np_, x: np_.expand_dims(x, -1), S34),
    R("squeeze_axis", lambda np_, x: np_.squeeze(x, axis=1), (3, 1, 4)),
    R("squeeze_all", lambda np_, x: np_.squeeze(x), (1, 3, 1)),
    R("concatenate_0", lambda np_, x, y: np_.concatenate([x, y], axis=0), (2, 3), (4, 3), order2=True),
    R("concatenate_1", lambda np_, x, y: np_.concatenate([x, y], axis=1), (2, 3), (2, 1)),
    R("concatenate_3", lambda np_, x, y, z: np_.concatenate([x, y, z], axis=-1), (2, 2), (2, 3), (2, 1)),
    R("stack_0", lambda np_, x, y: np_.stack([x, y]), S34, S34),
    R("stack_1", lambda np_, x, y: np_.stack([x, y], axis=1), S34, S34),
    R("stack_neg", lambda np_, x, y: np_.stack([x, y], axis=-1), (3,), (3,)),
    R("broadcast_to", lambda np_, x: np_.broadcast_to(x, (2, 3, 4)), (3, 1)),
    R("swapaxes", lambda np_, x: np_.swapaxes(x, 0, 2), S234),
    R("moveaxis", lambda np_, x: np_.moveaxis(x, 0, -1), S234),
    R("hstack_vstack", lambda np_, x, y: np_.vstack([np_.hstack([x, y]), np_.hstack([y, x])]), (2, 3), (2, 3)),
    R("expand_dims_tuple", lambda np_, x: np_.expand_dims(x, (0, 2)), S34),
    R("flip", lambda np_, x: np_.flip(x, axis=1) * x, S34, order2=True),
]

INDEXING = [
    R("index_int", lambda np_, x: x[1], (4, 5)),
    R("index_neg_int", lambda np_, x: x[-1], (4, 5)),
    R("index_slice", lambda np_, x: x[:, 1:3], (4, 5), order2=True),
    R("index_reverse", lambda np_, x: x[::-1], (4, 5)),
    R("index_steps", lambda np_, x: x[1::2, ::-2], (4, 5)),
    R("index_none", lambda np_, x: x[None, :, 0], (4, 5)),
    R("index_ellipsis", lambda np_, x: x[..., 1], S234),
    R("index_int_ellipsis_none", lambda np_, x: x[0, ..., None], S234),
    R("index_tail_reverse", lambda np_, x: x[-2:, ::-1], (4, 5), order2=True),
    R("index_scalar", lambda np_, x: x[1, 2] * x[2, 1], (4, 5)),
    R("index_neg_step_stop", lambda np_, x: x[:, -1:0:-2], (4, 5)),
    R("index_3d_mix", lambda np_, x: x[1:, None, ..., ::2], S234),
    R("index_sum_slices", lambda np_, x: x[1:] * x[:-1], (6,)),
    R("index_slice_int", lambda np_, x: x[1:3, 2], (4, 5)),
    R("index_neg_int_neg_step", lambda np_, x: x[-1, ::-2], (4, 5)),
    R("index_none_middle", lambda np_, x: x[:, None, 1:], (4, 5)),
    # Once failed to compile in IREE: insert_slice(expand_shape(insert_slice)) in the adjoint.
    R("index_int_then_slice", lambda np_, x: x[0][:-1] ** 2, (4, 3)),
    R("index_reverse_transpose", lambda np_, x: (x[:, ::-1] * x).T, (3, 4)),
]

MIXED = [
    R("astype_int", lambda np_, x: (x * 3).astype(np_.int32), S34, domain="grid", grad=False),
    R("astype_int_times_x", lambda np_, x: x.astype(np_.int32) * x, S34, domain="grid"),
    R("astype_bool_float32", lambda np_, x: (x > 0).astype(np_.float32) * x, S34, domain="grid"),
    R("bool_mask_mul", lambda np_, x, y: (y > 0) * x, S34, S34, domain="grid"),
    R("int_array_mul", lambda np_, x: x * np_.asarray([1, 0, 2, -1]), S34),
    R("preds_times_targets", lambda np_, x, y: np_.mean(
        np_.tanh(x) * (y > 0).astype(np_.int32) + (1 - (y > 0)) * x), S34, S34, domain="grid"),
    R("accuracy", lambda np_, x, y: np_.mean((x > 0) == (y > 0)), S34, S34, domain="grid"),
    R("bool_sum_times_x", lambda np_, x: np_.sum(x > 0) * x, S34, domain="grid"),
    R("relu_where", lambda np_, x: np_.where(x > 0, x, 0.0), S34, domain="grid"),
    R("weak_int_ops", lambda np_, x: (x + 1) * 2 - 3, S34),
    R("argmax", lambda np_, x: np_.argmax(x, axis=1), S34, domain="grid", grad=False),
    R("argmin_all", lambda np_, x: np_.argmin(x), S34, domain="grid", grad=False),
    R("int_floor_divide_remainder", lambda np_, x: ((x * 4).astype(np_.int32) // 3) * 10
      + (x * 4).astype(np_.int32) % 3, S34, domain="grid", grad=False),
    R("float_floor_divide", lambda np_, x, y: (x // y) * y, S34, S34, domain=("any", "divisor")),
    R("mean_of_int", lambda np_, x: np_.mean((x * 3).astype(np_.int32), axis=0), S34, domain="grid", grad=False),
    R("numpy_scalar_operand", lambda np_, x: x * np.float32(2.5) + np.float32(1.0), S34),
    R("where_broadcast", lambda np_, x, y: np_.where(x > 0, y, 0.0), S34, (4,), domain="grid"),
    R("clip_arrays", lambda np_, x, y, z: np_.clip(x, y, y + z * z + 0.5), S34, S34, (1,), domain="grid"),
    R("cumsum", lambda np_, x: np_.cumsum(x, axis=1), S34, rtol=1e-5),
]

# Inputs with zeros and ties: no finite differences; JAX's derivative conventions rule.
KINKS = [
    R("kink_abs", lambda np_, x: np_.abs(x), (3, 5), domain="ties", fd=False),
    R("kink_sign", lambda np_, x: np_.sign(x) * x, (3, 5), domain="ties", fd=False),
    R("kink_relu", lambda np_, x: np_.maximum(x, 0.0), (3, 5), domain="ties", fd=False),
    R("kink_maximum", lambda np_, x, y: np_.maximum(x, y) * x, (3, 5), (3, 5), domain="ties", fd=False,
      order2=True),
    R("kink_minimum", lambda np_, x, y: np_.minimum(x, y), (3, 5), (3, 5), domain="ties", fd=False),
    R("kink_maximum_self", lambda np_, x: np_.maximum(x, x), (3, 5), domain="ties", fd=False),
    R("kink_max_axis", lambda np_, x: np_.max(x, axis=1) ** 2, (3, 5), domain="ties", fd=False, order2=True),
    R("kink_max_all", lambda np_, x: np_.max(x), (3, 5), domain="ties", fd=False),
    R("kink_min_axis0", lambda np_, x: np_.min(x, axis=0), (3, 5), domain="ties", fd=False),
    R("kink_clip", lambda np_, x: np_.clip(x, 0.0, 1.0), (3, 5), domain="ties", fd=False),
    R("kink_prod_axis", lambda np_, x: np_.prod(x, axis=1), (3, 5), domain="ties", fd=False, order2=True),
    R("kink_prod_all", lambda np_, x: np_.prod(x[:, :2]), (3, 5), domain="ties", fd=False),
    R("kink_power_zero_base", lambda np_, x: np_.power(x * x, 1.5), (3, 5), domain="ties", fd=False),
    R("kink_int_powers", lambda np_, x: x ** 2 + x ** 0 + x ** 3, (3, 5), domain="ties", fd=False),
]

TABLES = {"unary": UNARY, "binary": BINARY, "reduce": REDUCTIONS, "linalg": LINALG, "shapes": SHAPES,
          "index": INDEXING, "mixed": MIXED, "kinks": KINKS}
ALL_ROWS = [r for t in TABLES.values() for r in t]
assert len({r.name for r in ALL_ROWS}) == len(ALL_ROWS), "row names must be unique"


def _chunks(rows, size=CHUNK):
    n = max(1, -(-len(rows) // size))
    per = -(-len(rows) // n)
    return [rows[i:i + per] for i in range(0, len(rows), per)]


CHUNKS = {f"{t}-{k}": c for t, rows in TABLES.items() for k, c in enumerate(_chunks(rows))}
CHUNK_OF = {r.name: name for name, rows in CHUNKS.items() for r in rows}
ORDER2_CHUNKS = {f"order2-{k}": c for k, c in enumerate(_chunks([r for r in ALL_ROWS if r.order2]))}


# ------------------------------------------------------------------------ references

def argnums(row):
    return tuple(range(len(row.shapes)))


def reference(row: Row):
    """(inputs, JAX's value, weights w, JAX's gradient, directions v, JAX's grad-of-grad)."""
    return _chunk_reference(CHUNK_OF[row.name])[row.name]


@functools.cache
def _chunk_reference(chunk: str):
    """reference() of every row of CHUNKS[chunk], computed by one jax.jit (one XLA compile
    per chunk instead of one per row; op-by-op JAX is slower than compiling)."""
    rows = CHUNKS[chunk]
    data = {}
    for row in rows:
        xs = make_inputs(row)
        shape = jax.eval_shape(lambda *a, row=row: row.fn(jnp, *a), *xs).shape
        rng = np.random.default_rng(zlib.crc32(row.name.encode()) + 1)
        w = rng.standard_normal(shape).astype(np.float32)
        vs = [rng.standard_normal(x.shape).astype(np.float32) for x in xs] if row.order2 else None
        data[row.name] = (xs, w, vs)

    def one(row, a):
        _, w, vs = data[row.name]
        value = row.fn(jnp, *a)
        if not row.grad:
            return value, None, None
        grads = jax.grad(functools.partial(_loss, jnp, row, w), argnums(row))(*a)
        hvp = jax.grad(functools.partial(_gv, jnp, jax.grad, row, w, vs), argnums(row))(*a) if vs else None
        return value, grads, hvp

    out = jax.jit(lambda all_xs: {r.name: one(r, all_xs[r.name]) for r in rows})(
        {name: xs for name, (xs, _, _) in data.items()})
    return {name: (xs, out[name][0], w, out[name][1], vs, out[name][2]) for name, (xs, w, vs) in data.items()}


def _loss(np_, row, w, *xs):
    return np_.sum(row.fn(np_, *xs) * w)


def _gv(np_, grad, row, w, vs, *xs):
    gs = grad(functools.partial(_loss, np_, row, w), argnums(row))(*xs)
    return functools.reduce(lambda a, b: a + b, [np_.vdot(g, v) for g, v in zip(gs, vs)])


def close(errors, row, what, actual, expected, rtol=None, atol=None):
    """Record (not raise) a mismatch, so one test reports every failing row of its chunk."""
    try:
        actual = np.asarray(actual)
        expected = np.asarray(expected)
        assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
        assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
        np.testing.assert_allclose(actual, expected, rtol=rtol or row.rtol, atol=atol or row.atol)
    except AssertionError as e:
        errors.append(f"[{row.name}] {what}: {e}")


def same_weak(errors, row, what, actual, expected):
    if bool(getattr(actual, "weak_type", False)) != bool(expected.weak_type):
        errors.append(f"[{row.name}] {what}: weak_type {actual.weak_type} != JAX's {expected.weak_type}")


def report(errors):
    assert not errors, f"{len(errors)} mismatches:\n" + "\n".join(errors)


def fd_check(errors, row, xs, w, grads, directions=3):
    """<grad, v> against central differences of the float64 NumPy version of the row."""
    x64 = [x.astype(np.float64) for x in xs]
    w64 = w.astype(np.float64)

    def loss(ys):
        return float(np.sum(np.asarray(row.fn(np, *ys), np.float64) * w64))

    rng = np.random.default_rng(zlib.crc32(row.name.encode()) + 2)
    eps = 1e-5
    for k in range(directions):
        vs = [rng.standard_normal(x.shape) for x in x64]
        fd = (loss([x + eps * v for x, v in zip(x64, vs)]) - loss([x - eps * v for x, v in zip(x64, vs)])) / (2 * eps)
        g64 = [np.asarray(g, np.float64) for g in grads]
        an = sum(float(np.vdot(g, v)) for g, v in zip(g64, vs))
        scale = sum(float(np.vdot(np.abs(g), np.abs(v))) for g, v in zip(g64, vs))
        if not abs(fd - an) <= 1e-3 * scale + 1e-4:
            errors.append(f"[{row.name}] finite differences along direction {k}: grad.v = {an:.6g}, "
                          f"central difference = {fd:.6g}")


# ------------------------------------------------------------------------ programs

def row_program(row, w):
    """irgrad: (value, grads) of one row."""
    def program(*xs):
        value = row.fn(inp, *xs)
        if not row.grad:
            return value, ()
        return value, irgrad.grad(functools.partial(_loss, inp, row, w), argnums(row))(*xs)
    return program


def row_order2(row, w, vs):
    return lambda *xs: irgrad.grad(functools.partial(_gv, inp, irgrad.grad, row, w, vs), argnums(row))(*xs)


def _first_error(e):
    lines = str(e).splitlines()
    detail = [ln for ln in lines[1:] if "error" in ln.lower()][:1]
    return " / ".join(ln.strip()[:300] for ln in lines[:1] + detail)


def run_chunk(rows, make, errors):
    """Compile the rows' programs as one jitted function; on failure, one by one.
    Returns {row name: outputs} for the rows that ran."""
    programs = [make(r) for r in rows]
    inputs = [reference(r)[0] for r in rows]

    def together(*flat):
        outs, k = [], 0
        for p, xs in zip(programs, inputs):
            outs.append(p(*flat[k:k + len(xs)]))
            k += len(xs)
        return outs

    try:
        outs = irgrad.jit(together)(*[x for xs in inputs for x in xs])
        return {r.name: o for r, o in zip(rows, outs)}
    except Exception:
        if len(rows) == 1:
            raise
    results = {}
    for r, p, xs in zip(rows, programs, inputs):
        try:
            results[r.name] = irgrad.jit(p)(*xs)
        except Exception as e:  # noqa: BLE001 - reported per row
            errors.append(f"[{r.name}] does not compile: {type(e).__name__}: {_first_error(e)}")
    return results


# ------------------------------------------------------------------------ tests

@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda r: r.name)
def test_eager(row):
    """(a) eager irgrad (NumPy impls) against JAX: values, dtype, weak_type."""
    xs, expected = reference(row)[:2]
    errors = []
    actual = row.fn(inp, *[inp.asarray(x) for x in xs])
    close(errors, row, "eager value", actual, expected)
    same_weak(errors, row, "eager value", actual, expected)
    report(errors)


@pytest.mark.parametrize("chunk", list(CHUNKS), ids=str)
def test_jit_and_grad(chunk):
    """(b) jitted values, (c) gradients against jax.grad, (d) against finite differences."""
    rows = CHUNKS[chunk]
    errors = []
    outs = run_chunk(rows, lambda r: row_program(r, reference(r)[2]), errors)
    for row in rows:
        if row.name not in outs:
            continue
        xs, value, w, grads = reference(row)[:4]
        got_value, got_grads = outs[row.name]
        close(errors, row, "jit value", got_value, value)
        same_weak(errors, row, "jit value", got_value, value)
        if not row.grad:
            continue
        for i, (g, e) in enumerate(zip(got_grads, grads)):
            close(errors, row, f"grad wrt input {i}", g, e, rtol=max(row.rtol, 1e-5), atol=max(row.atol, 1e-5))
        if row.fd:
            fd_check(errors, row, xs, w, got_grads)
    report(errors)


@pytest.mark.parametrize("chunk", list(ORDER2_CHUNKS), ids=str)
def test_grad_of_grad(chunk):
    """(e) grad of <grad(sum(f * w)), v> against JAX."""
    rows = ORDER2_CHUNKS[chunk]
    errors = []
    outs = run_chunk(rows, lambda r: row_order2(r, reference(r)[2], reference(r)[4]), errors)
    for row in rows:
        if row.name in outs:
            for i, (g, e) in enumerate(zip(outs[row.name], reference(row)[5])):
                close(errors, row, f"grad-of-grad wrt input {i}", g, e, rtol=1e-4, atol=1e-4)
    report(errors)


def test_results_outlive_their_arrays():
    """NumPy values read from jitted results stay valid after the irgrad.Arrays die
    (they used to be views of device buffers that were freed and reused)."""
    x = np.linspace(-1.0, 1.0, 4096, dtype=np.float32).reshape(64, 64)
    f = irgrad.jit(lambda a, k: inp.sin(a) * k)
    first = np.asarray(f(x, np.float32(2.0)))
    for k in range(3, 8):
        np.asarray(f(x, np.float32(k)))
    np.testing.assert_allclose(first, np.sin(x) * 2.0, rtol=1e-5, atol=1e-6)


def test_table_covers_the_requested_functions():
    """Every function the brief names has a row (guards against silently dropped rows)."""
    names = {r.name for r in ALL_ROWS}
    for required in ["exp", "log", "log1p", "expm1", "sqrt", "tanh", "sin", "cos", "tan", "abs", "sign",
                     "arctan", "sinh", "cosh", "arcsinh", "negative", "square", "reciprocal", "floor", "ceil",
                     "round", "add", "subtract", "multiply", "divide", "power", "power_int2", "power_int3",
                     "power_int_neg1", "power_int0", "maximum", "minimum", "arctan2", "remainder", "where",
                     "clip", "dot_2d", "matmul_batched", "vdot", "outer", "trace", "T", "reshape",
                     "expand_dims_0", "squeeze_axis", "concatenate_0", "stack_0", "astype_int",
                     "bcast_col_row", "preds_times_targets"]:
        assert required in names, required
    assert len(CHUNKS) <= 20 and len(ORDER2_CHUNKS) <= 8
