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
