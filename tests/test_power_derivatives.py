"""Derivatives of x ** y to second order, at x = 0 and at exponent 0, against JAX.

JAX's rules for lax.pow with a float exponent: d/dx = y * x ** (y - 1) (NaN at x = 0,
y = 0, and the mixed derivative there is x ** -1), d/dy = log(x) * x ** y with log(0)
read as 0; an integer exponent array gets d/dx = 0 where y == 0; a Python int exponent
is integer_pow. Each function is elementwise, so grad of a sum gives every element's
derivative at once."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp

XS = np.float32([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0, -2.0, -2.0])
YS = np.float32([0.0, 1.0, 2.0, 0.5, -1.0, 0.0, 1.0, 2.0, 0.5, -1.0, 0.0, 2.0, 3.0])


def derivatives(lib, np_):
    s = lambda f: lambda x, y: np_.sum(f(x, y))
    dx, dy = lib.grad(s(np_.power), 0), lib.grad(s(np_.power), 1)
    return {"value": lib.jit(np_.power)(XS, YS), "dx": dx(XS, YS), "dy": dy(XS, YS),
            "dxx": lib.grad(s(dx), 0)(XS, YS), "dyy": lib.grad(s(dy), 1)(XS, YS),
            "dxy": lib.grad(s(dx), 1)(XS, YS), "dyx": lib.grad(s(dy), 0)(XS, YS)}


@pytest.fixture(scope="module")
def both():
    return derivatives(irgrad, inp), derivatives(jax, jnp)


@pytest.mark.parametrize("what", ["value", "dx", "dy", "dxx", "dyy", "dxy", "dyx"])
def test_pow_derivatives_match_jax(both, what):
    mine, theirs = both
    np.testing.assert_allclose(np.asarray(mine[what]), np.asarray(theirs[what]), rtol=1e-5, atol=1e-6,
                               err_msg=f"{what} at x={XS}, y={YS}")


def test_issue_cases():
    assert float(irgrad.grad(irgrad.grad(inp.power, 0), 1)(4.0, 0.0)) == pytest.approx(0.25)
    assert np.isnan(float(irgrad.grad(lambda x: x ** 0.0)(0.0)))
    assert float(jax.grad(jax.grad(jnp.power, 0), 1)(4.0, 0.0)) == pytest.approx(0.25)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, -1])
def test_integer_pow_at_zero(n):
    def build(lib, np_):
        f = lambda x: x ** n
        return lib.grad(f)(0.0), lib.grad(lib.grad(f))(0.0), lib.grad(f)(-1.5), lib.grad(lib.grad(f))(-1.5)
    for m, t in zip(build(irgrad, inp), build(jax, jnp)):
        np.testing.assert_allclose(np.asarray(m), np.asarray(t), rtol=1e-6)


def test_integer_exponent_array():
    """A float base with an integer exponent array: d/dx is 0 where y == 0 (not NaN)."""
    x, y = np.zeros(4, np.float32), np.int32([0, 1, 2, 3])
    def build(lib, np_):
        return lib.jit(np_.power)(x + 2.0, y), lib.grad(lambda x: np_.sum(np_.power(x, y)))(x)
    for m, t in zip(build(irgrad, inp), build(jax, jnp)):
        np.testing.assert_allclose(np.asarray(m), np.asarray(t), rtol=1e-6)


# x ** n for n < 0 at the points where the products 1 / (x * x ...) meet 0 * inf in the chain
# rule (x = +-0: JAX's n * x ** (n - 1) is +-inf; x = +-inf: it is +-0), and at ordinary points.
NEG_NS = (-1, -2, -3, -4, -5)
NEG_XS = np.float32([0.0, -0.0, np.inf, -np.inf, 1.5, -1.5, 3.0])
PATHS = ("value", "grad", "grad_grad", "jvp", "jvp_grad", "grad_power", "grad_grad_power")


def negative_integer_pow_table(lib, np_):
    """All of PATHS for every n in NEG_NS, per x, in one jitted vmap: [x, n, path]."""
    one = lambda x: np_.ones_like(x)

    def per_x(x):
        rows = []
        for n in NEG_NS:
            f = lambda x, n=n: x ** n
            p = lambda x, n=n: np_.power(x, n)
            g = lib.grad(f)
            rows.append(np_.stack([f(x), g(x), lib.grad(g)(x), lib.jvp(f, (x,), (one(x),))[1],
                                   lib.jvp(g, (x,), (one(x),))[1], lib.grad(p)(x), lib.grad(lib.grad(p))(x)]))
        return np_.stack(rows)
    return np.asarray(lib.jit(lib.vmap(per_x))(NEG_XS))


@pytest.fixture(scope="module")
def negative_pow_tables():
    return negative_integer_pow_table(irgrad, inp), negative_integer_pow_table(jax, jnp)


@pytest.mark.parametrize("path", PATHS)
def test_negative_integer_pow_matches_jax(negative_pow_tables, path):
    """Before the fix every derivative at x = +-0 and +-inf for n <= -2 was NaN."""
    k = PATHS.index(path)
    mine, theirs = negative_pow_tables
    for i, n in enumerate(NEG_NS):
        np.testing.assert_allclose(mine[:, i, k], theirs[:, i, k], rtol=2e-6, atol=0,
                                   err_msg=f"{path} of x ** {n} at x = {NEG_XS}")


def test_negative_integer_pow_at_zero_eager():
    """Bare grad and grad of grad (not under jit) at 0.0, float32, as in the issue."""
    for lib in (irgrad, jax):
        f = lambda x: x ** -2
        got = [float(lib.grad(f)(np.float32(0.0))), float(lib.grad(lib.grad(f))(np.float32(-0.0)))]
        assert got == [-np.inf, np.inf], (lib.__name__, got)


# A float base with an integer exponent array. At y == 0 JAX's rule is d/dx = select(y == 0, 0,
# y * x ** (y - 1)), so every forward-mode derivative there is 0 (x ** 0 is constant), also at
# x == 0 where the unselected branch reads 0 ** -1. (JAX's reverse over reverse differs: its
# select transposes a 0 cotangent into that inf partial and gives NaN at x == 0; irgrad gives
# the 0 the forward paths agree on, see test_integer_exponent_zero_reverse_over_reverse.)
INT_XS = np.float32([0, 0, 0, 0, 0, 2, 2, 2, 2, -1.5, -1.5, np.inf, 0, 3])
INT_YS = np.int32([0, 1, 2, 3, -1, 0, 1, 2, -2, 0, 3, 0, -2, 0])
INT_PATHS = ("dx", "jvp", "jvp_grad", "jvp_jvp", "grad_grad")


def integer_exponent_table(lib, np_):
    one = lambda x: np_.ones_like(x)

    def per_element(x, y):
        f = lambda x: np_.power(x, y)
        g = lib.grad(f)
        jv = lambda x: lib.jvp(f, (x,), (one(x),))[1]
        return np_.stack([g(x), jv(x), lib.jvp(g, (x,), (one(x),))[1], lib.jvp(jv, (x,), (one(x),))[1],
                          lib.grad(g)(x)])
    return np.asarray(lib.jit(lib.vmap(per_element))(INT_XS, INT_YS))


@pytest.fixture(scope="module")
def integer_exponent_tables():
    return integer_exponent_table(irgrad, inp), integer_exponent_table(jax, jnp)


@pytest.mark.parametrize("path", INT_PATHS)
def test_integer_exponent_array_matches_jax(integer_exponent_tables, path):
    """Before the fix the forward-over-reverse second derivative at x = 0, y = 0 was NaN."""
    k = INT_PATHS.index(path)
    mine, theirs = (t[:, k] for t in integer_exponent_tables)
    keep = slice(None) if path != "grad_grad" else ~((INT_XS == 0) & (INT_YS == 0))
    np.testing.assert_allclose(mine[keep], theirs[keep], rtol=1e-6, atol=0,
                               err_msg=f"{path} of power(x, y) at x = {INT_XS}, y = {INT_YS}")


def test_integer_exponent_zero_reverse_over_reverse(integer_exponent_tables):
    """At x = 0, y = 0 the second derivative of x ** 0 is 0: JAX's forward-over-reverse (its
    hessian) says so; irgrad gives that on the reverse-over-reverse path too, where JAX's own
    grad(grad) gives NaN (documented above)."""
    mine, theirs = integer_exponent_tables
    at = np.flatnonzero((INT_XS == 0) & (INT_YS == 0))
    np.testing.assert_array_equal(mine[at, INT_PATHS.index("grad_grad")],
                                  theirs[at, INT_PATHS.index("jvp_grad")])


# The same kind of point for the other elementary functions: derivatives where JAX's rule gives
# inf or 0 and a partial written another way gives 0 * inf or 0 / 0. Before the fixes cbrt's were
# NaN at 0 and inf (y / (3 x)), and sign's derivative at 0 was 1 (its lowering returned x there).
EDGE_XS = np.float32([0.0, -0.0, 1.5, -1.5, np.inf, 1e-30])
EDGE_FNS = ("sqrt", "log", "log1p", "abs", "cbrt", "sign", "pow_0.5", "pow_1.5", "pow_-0.5", "pow_2.5", "exp")


def edge_table(lib, np_):
    fns = {"sqrt": np_.sqrt, "log": np_.log, "log1p": np_.log1p, "abs": np_.abs, "cbrt": np_.cbrt,
           "sign": np_.sign, "pow_0.5": lambda x: x ** 0.5, "pow_1.5": lambda x: x ** 1.5,
           "pow_-0.5": lambda x: x ** -0.5, "pow_2.5": lambda x: x ** 2.5, "exp": np_.exp}

    def per_x(x):
        rows = []
        for name in EDGE_FNS:
            g = lib.grad(fns[name])
            rows.append(np_.stack([g(x), lib.grad(g)(x), lib.jvp(g, (x,), (np_.ones_like(x),))[1]]))
        return np_.stack(rows)
    return np.asarray(lib.jit(lib.vmap(per_x))(EDGE_XS))


@pytest.fixture(scope="module")
def edge_tables():
    return edge_table(irgrad, inp), edge_table(jax, jnp)


@pytest.mark.parametrize("name", EDGE_FNS)
def test_edge_derivatives_match_jax(edge_tables, name):
    i = EDGE_FNS.index(name)
    mine, theirs = (t[:, i] for t in edge_tables)
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=0,
                               err_msg=f"[grad, grad of grad, jvp of grad] of {name} at x = {EDGE_XS}")


def test_power_special_values_match_jax():
    """power(x, y) over every pair of special values, jitted (IREE's powf, rewritten by
    runtime/compiler.py exact_powf) and eager, against JAX: (-inf) ** 0.5 was NaN
    (JAX inf), (-1) ** inf and 1 ** nan were NaN (JAX 1)."""
    xs = [-np.inf, -2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, np.inf, np.nan]
    ys = [-np.inf, -3.0, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, np.inf, np.nan]
    x, y = (np.asarray(v, np.float32).ravel() for v in np.meshgrid(xs, ys))
    want = np.asarray(jax.jit(jnp.power)(x, y))
    for what, got in (("jit", irgrad.jit(inp.power)(x, y)), ("eager", inp.power(inp.asarray(x), inp.asarray(y)))):
        got = np.asarray(got)
        bad = ~np.isclose(got, want, rtol=1e-6, atol=0, equal_nan=True) | (
            (np.signbit(got) != np.signbit(want)) & ~np.isnan(want))
        assert not bad.any(), f"{what}: " + ", ".join(
            f"{a} ** {b} = {g} (JAX {w})" for a, b, g, w in zip(x[bad], y[bad], got[bad], want[bad]))
