"""Vulkan against the CPU reference: the primitive table's values, gradients and jvps,
eight of the random-program generator's programs, odd shapes and long reductions, computed on
Vulkan (Mesa's lavapipe in CI) and compared with JAX on CPU — the same reference every
irgrad CPU result is checked against in test_primitives / test_random_programs, so a
Vulkan-only wrong number shows up here as a mismatch with the CPU's numbers.

IREE compiles are the cost: the rows of one chunk of test_primitives go into one jitted
function per mode (value and gradient; jvp), random programs four to a function.

Skipped with the reason when there is no Vulkan device, except under CI=true.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pytest
import test_primitives as tp
import test_random_programs as trp

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402


def _tol(row, grad=False):
    """The row's own tolerance (grads: as test_primitives), floored for lavapipe's math."""
    return dict(rtol=max(row.rtol, 1e-5 if grad else 2e-6, 1e-5), atol=max(row.atol, 1e-5))


def _together(programs, inputs):
    def run(*flat):
        outs, k = [], 0
        for p, xs in zip(programs, inputs):
            outs.append(p(*flat[k:k + len(xs)]))
            k += len(xs)
        return outs
    return run


def _jvp_program(row, ts):
    return lambda *xs: irgrad.jvp(lambda *a: row.fn(inp, *a), list(xs), ts)


@functools.cache
def _tangents(row):
    rng = np.random.default_rng(zlib.crc32(row.name.encode()) + 3)
    return [rng.standard_normal(x.shape).astype(np.float32) for x in tp.reference(row)[0]]


@pytest.mark.parametrize("chunk", list(tp.CHUNKS))
def test_primitive_table_on_vulkan(vulkan, chunk):
    """Every row's value and gradient of sum(f * w) on Vulkan against JAX (the chunks of
    test_primitives: IREE's compile time grows faster than the program)."""
    rows = tp.CHUNKS[chunk]
    refs = [tp.reference(r) for r in rows]
    programs = [tp.row_program(r, ref[2]) for r, ref in zip(rows, refs)]
    outs = irgrad.jit(_together(programs, [ref[0] for ref in refs]), device=vulkan)(
        *[x for ref in refs for x in ref[0]])
    errors = []
    for row, ref, (value, grads) in zip(rows, refs, outs):
        tp.close(errors, row, "vulkan value", value, ref[1], **_tol(row))
        for i, (g, e) in enumerate(zip(grads, ref[3] if row.grad else ())):
            tp.close(errors, row, f"vulkan grad wrt input {i}", g, e, **_tol(row, grad=True))
    tp.report(errors)


@pytest.mark.parametrize("chunk", list(tp.CHUNKS))
def test_primitive_table_jvp_on_vulkan(vulkan, chunk):
    """Every differentiable row's jvp along random tangents on Vulkan against jax.jvp."""
    rows = [r for r in tp.CHUNKS[chunk] if r.grad]
    if not rows:
        return
    xs = [tp.reference(r)[0] for r in rows]
    programs = [_jvp_program(r, _tangents(r)) for r in rows]
    outs = irgrad.jit(_together(programs, xs), device=vulkan)(*[x for x_ in xs for x in x_])
    expected = jax.jit(lambda xs, ts: [jax.jvp(lambda *p, row=row: row.fn(jnp, *p), x, t)
                                       for row, x, t in zip(rows, xs, ts)])(xs, [_tangents(r) for r in rows])
    errors = []
    for row, (value, tangent), (e_value, e_tangent) in zip(rows, outs, expected):
        tp.close(errors, row, "vulkan jvp value", value, e_value, **_tol(row))
        tp.close(errors, row, "vulkan jvp tangent", tangent, e_tangent, **_tol(row, grad=True))
    tp.report(errors)


SEEDS = [int(s) for s in np.random.default_rng(20261203).integers(0, 2**32 - 1, 8)]


@pytest.mark.parametrize("group", range(2))
def test_random_programs_on_vulkan(vulkan, group):
    """Random programs (test_random_programs' generator), four per compile: value,
    gradient w.r.t. every input and jvp, on Vulkan against JAX."""
    progs = [trp.build_program(s) for s in SEEDS[group * 4:(group + 1) * 4]]
    cases = []
    for p in progs:
        rng, xs = trp._inputs(p)
        w = rng.standard_normal(p.out_shape).astype(np.float32)
        ts = [rng.standard_normal(s).astype(np.float32) for s in p.in_shapes]
        cases.append((p, xs, w, ts))

    def program(p, w, ts):
        argnums = tuple(range(len(p.in_shapes)))
        return lambda *a: (p.fn(inp, *a), irgrad.grad(trp._loss(inp, p.fn, w), argnums)(*a),
                           irgrad.jvp(lambda *b: p.fn(inp, *b), list(a), ts)[1])

    outs = irgrad.jit(_together([program(p, w, ts) for p, _, w, ts in cases], [c[1] for c in cases]),
                      device=vulkan)(*[x for c in cases for x in c[1]])
    for (p, xs, w, ts), (value, grads, tangent) in zip(cases, outs):
        argnums = tuple(range(len(xs)))
        trp._close("vulkan value", value, p.fn(jnp, *[jnp.asarray(x) for x in xs]), p)
        for i, (g, e) in enumerate(zip(grads, jax.jit(jax.grad(trp._loss(jnp, p.fn, w), argnums))(*xs))):
            trp._close(f"vulkan gradient wrt input {i}", g, e, p)
        trp._close("vulkan jvp tangent", tangent, jax.jvp(lambda *b: p.fn(jnp, *b), xs, ts)[1], p)


def _odd(np_, a, b, c):
    """Contractions and reductions in every loop order, on shapes no tile size divides."""
    t = np_.tanh(a @ b)                       # (33, 65) @ (65, 7)
    return (np_.sum(t * t, axis=0) + np_.max(a.T @ a, axis=1)[:7] + np_.sum(c, axis=(0, 2))[:7]
            + np_.mean(np_.transpose(c, (2, 0, 1)) * 2.0, axis=(1, 2))[:7])


def test_odd_shapes_value_and_grad_on_vulkan(vulkan):
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1, 1, s).astype(np.float32) for s in ((33, 65), (65, 7), (5, 9, 13))]
    w = rng.standard_normal(7).astype(np.float32)
    loss = lambda np_: lambda *a: np_.sum(_odd(np_, *a) * w)  # noqa: E731
    got = irgrad.jit(irgrad.value_and_grad(loss(inp), (0, 1, 2)), device=vulkan)(*xs)
    want = jax.jit(jax.value_and_grad(loss(jnp), (0, 1, 2)))(*xs)
    np.testing.assert_allclose(np.asarray(got[0]), want[0], rtol=2e-5)
    for g, e in zip(got[1], want[1]):
        np.testing.assert_allclose(np.asarray(g), e, rtol=2e-5, atol=2e-5)


def test_matmul_gradient_on_vulkan(vulkan):
    """The issue's case: the weight gradient's adjoint contraction x^T @ g (max error 4.8,
    an upper-triangular result on 5x6 @ 6x4, before outputs were written in loop order)."""
    for (m, k, n) in ((64, 10, 8), (5, 6, 4)):
        rng = np.random.default_rng(m)
        x = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((k, n)).astype(np.float32)
        g = irgrad.jit(irgrad.grad(lambda w: inp.sum(inp.tanh(x @ w))), device=vulkan)(w)
        exact = x.astype(np.float64).T @ (1 - np.tanh(x.astype(np.float64) @ w) ** 2)
        np.testing.assert_allclose(np.asarray(g), exact, rtol=1e-5, atol=1e-5)
