"""Sorting: the sort_rank / sort_place / sort_gather primitives and jnp.sort / argsort.

Upstream linalg has no sort, so a sort is a stable rank by comparison counting and a
one-hot placement (both O(n^2) generics). Checked against JAX (lax.sort's order: -0.0
== 0.0, NaNs last, stable) and NumPy's stable argsort, eagerly and compiled by IREE,
and differentiated by the reverse pass (the placement is an add reduction) against
jax.grad. Each test compiles one function for all its cases.
"""

from __future__ import annotations

import numpy as np
import pytest
from irgrad.frontend.primitives import bind, sort

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402

RNG = np.random.default_rng(7)
FLOATS = np.float32([3, 1, np.nan, 2, -0.0, 0.0, 1, -np.inf, np.inf, -np.nan, 2, -5.5])
TIES = RNG.integers(-3, 4, (4, 6)).astype(np.float32)          # many ties in rows and columns
INTS = RNG.integers(-2**31, 2**31, 9, dtype=np.int64).astype(np.int32)
UINTS = np.array([3000000000, 5, 4294967295, 0, 5, 2**31, 2**31 - 1], np.uint32)   # unsigned order
BOOLS = np.array([True, False, True, False, False])
SMALL = np.int8([5, -3, 5, 0, -128, 127])


def sorts(np_, floats, ties, ints, uints, bools, small):
    """Every case, written once for irgrad.numpy and jax.numpy."""
    out = {}
    for name, x in [("floats", floats), ("ints", ints), ("uints", uints), ("bools", bools), ("small", small)]:
        out[f"sort_{name}"] = np_.sort(x)
        out[f"argsort_{name}"] = np_.argsort(x)
        if name in ("floats", "uints"):
            out[f"desc_{name}"] = np_.sort(x, descending=True)
            out[f"argdesc_{name}"] = np_.argsort(x, descending=True)
    for axis in (0, 1, -1, None):
        out[f"ties_sort_{axis}"] = np_.sort(ties, axis=axis)
        out[f"ties_argsort_{axis}"] = np_.argsort(ties, axis=axis)
        out[f"ties_argdesc_{axis}"] = np_.argsort(ties, axis=axis, descending=True)
    return out


def assert_same(ours, theirs, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), what
    np.testing.assert_array_equal(ours, theirs, err_msg=what)
    if ours.dtype.kind == "f":   # -0.0 stays -0.0: the placement copies bits
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs), err_msg=what)


def test_sort_and_argsort_match_jax_eager_and_compiled():
    args = (FLOATS, TIES, INTS, UINTS, BOOLS, SMALL)
    theirs = jax.jit(lambda *a: sorts(jnp, *a))(*args)
    for ours in (sorts(inp, *args), irgrad.jit(lambda *a: sorts(inp, *a))(*args)):
        assert ours.keys() == theirs.keys()
        for name in theirs:
            assert_same(ours[name], theirs[name], name)


def test_compiled_rank_is_numpys_stable_argsort():
    # Random rows with many ties (and a larger n), compiled: the rank generic and the placement.
    x = RNG.integers(0, 20, (3, 300)).astype(np.float32)
    u = RNG.integers(0, 2**32, 257, dtype=np.uint64).astype(np.uint32)
    i = RNG.integers(-50, 50, 100).astype(np.int32)
    ours = irgrad.jit(lambda x, u, i: (inp.argsort(x), inp.argsort(u), inp.sort(i), inp.argsort(x, axis=0)))(x, u, i)
    assert_same(ours[0], np.argsort(x, axis=-1, kind="stable").astype(np.int32))
    assert_same(ours[1], np.argsort(u, kind="stable").astype(np.int32))
    assert_same(ours[2], np.sort(i))
    assert_same(ours[3], np.argsort(x, axis=0, kind="stable").astype(np.int32))


def test_multi_operand_sort_and_gather_primitives():
    keys = np.uint32([7, 3, 7, 0, 3])
    vals = np.float32([0.5, -0.0, np.inf, np.nan, 2.0])
    data = np.float32([[1, 2, 3], [4, 5, 6]])
    idx = np.int32([2, 0, 0, 5, -1])      # 5 and -1 are out of range: -0.0

    def f(keys, vals, idx):
        k, v, i = sort(keys, vals, inp.arange(5), dimension=0)
        return k, v, i, bind("sort_gather", data, idx)

    for ours in (f(keys, vals, idx), irgrad.jit(f)(keys, vals, idx)):
        order = np.argsort(keys, kind="stable")
        assert_same(ours[0], keys[order])
        assert_same(ours[1], vals[order])
        assert_same(ours[2], order.astype(np.int32))
        assert_same(ours[3], np.float32([[3, 1, 1, -0.0, -0.0], [6, 4, 4, -0.0, -0.0]]))
    with pytest.raises(TypeError, match="rank >= 1"):
        bind("sort_rank", np.float32(1.0))
    with pytest.raises(ValueError, match="out of bounds"):
        inp.sort(np.float32(1.0))
    assert_same(inp.sort(np.float32(1.0), axis=None), jnp.sort(jnp.float32(1.0), axis=None))


def sort_loss(np_, x, w):
    """Sort-based losses: sorted values weighted (ties included), a trimmed mean, a median."""
    s0, s1 = np_.sort(x, axis=0), np_.sort(x * x, axis=1)
    trimmed = np_.mean(np_.sort(x, axis=None)[2:-2])
    return np_.sum(w * s0) + np_.sum(w * s1) + trimmed + np_.sort(x[0])[2]


def test_grad_of_sort_matches_jax():
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    x[0, 3] = x[0, 1]          # a tie: the cotangents go to the stable positions
    x[2, 0] = x[1, 0]
    w = RNG.standard_normal((3, 5)).astype(np.float32)
    ours = irgrad.jit(irgrad.value_and_grad(lambda x, w: sort_loss(inp, x, w)))(x, w)
    theirs = jax.jit(jax.value_and_grad(lambda x, w: sort_loss(jnp, x, w)))(x, w)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, atol=1e-6)


def test_vmap_of_sort_matches_jax():
    x = RNG.integers(0, 4, (3, 6)).astype(np.float32)
    ours = irgrad.vmap(lambda r: (inp.sort(r), inp.argsort(r, descending=True)))(x)
    theirs = jax.vmap(lambda r: (jnp.sort(r), jnp.argsort(r, descending=True)))(x)
    assert_same(ours[0], theirs[0])
    assert_same(ours[1], theirs[1])


def test_jvp_and_hessian_of_sort_match_jax():
    x = np.float32([0.3, -1.2, 0.3, 2.0, -0.5])
    t = np.float32([1.0, 2.0, 3.0, 4.0, 5.0])
    w = np.float32([1.0, -2.0, 0.5, 3.0, -1.0])

    def f(np_, x):
        return np_.sum(w * np_.sort(x) ** 3)

    ours = irgrad.jvp(lambda x: f(inp, x), (x,), (t,))
    theirs = jax.jvp(lambda x: f(jnp, x), (x,), (t,))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(irgrad.hessian(lambda x: f(inp, x))(x), jax.hessian(lambda x: f(jnp, x))(x), rtol=1e-6)
