"""irgrad.nn against jax.nn: values and gradients, eagerly and inside one jit.

Values may differ from XLA's by a few ulp (IREE's exp / log / tanh are not XLA's);
gradients must match JAX's rules at the kinks (relu'(0) = 0, softplus'(0) = 1/2) and
stay finite where a naive formula overflows (sigmoid / softplus at +-100, logsumexp
of large inputs).
"""

from __future__ import annotations

import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402

X = np.float32([-100.0, -20.0, -3.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 2.0, 20.0, 100.0])
M = np.float32([[1.0, -2.0, 3.0, 0.5], [1000.0, 1000.0, -1000.0, 999.0], [-np.inf, 0.0, 2.0, 2.0]])
M_FINITE = M[:2]

# name -> callable(nn module, x); one row per function.
ELEMENTWISE = {
    "relu": lambda nn, x: nn.relu(x),
    "sigmoid": lambda nn, x: nn.sigmoid(x),
    "softplus": lambda nn, x: nn.softplus(x),
    "log_sigmoid": lambda nn, x: nn.log_sigmoid(x),
    "silu": lambda nn, x: nn.silu(x),
    "leaky_relu": lambda nn, x: nn.leaky_relu(x, 0.2),
    "elu": lambda nn, x: nn.elu(x),
    "gelu": lambda nn, x: nn.gelu(x),
}
REDUCING = {
    "softmax": lambda nn, m: nn.softmax(m),
    "softmax_axis0": lambda nn, m: nn.softmax(m, axis=0),
    "log_softmax": lambda nn, m: nn.log_softmax(m),
    "log_softmax_axis0": lambda nn, m: nn.log_softmax(m, axis=0),
    "logsumexp": lambda nn, m: nn.logsumexp(m),
    "logsumexp_axis1": lambda nn, m: nn.logsumexp(m, axis=1),
    "logsumexp_keepdims": lambda nn, m: nn.logsumexp(m, axis=0, keepdims=True),
    "logsumexp_b": lambda nn, m: nn.logsumexp(m, axis=1, b=np.float32([[1, 2, 0, 1]])),
}


def _table(lib, numpy, x, m):
    """Values and gradients (of sum(f * weights)) of every row, for irgrad or jax."""
    nn = lib.nn
    out = {}
    for name, f in ELEMENTWISE.items():
        w = numpy.cos(numpy.arange(x.shape[0], dtype=numpy.float32))
        out[name] = (f(nn, x), lib.grad(lambda x, f=f, w=w: numpy.sum(f(nn, x) * w))(x))
    for name, f in REDUCING.items():
        def loss(m, f=f):
            y = f(nn, m)
            return numpy.sum(y * numpy.cos(numpy.arange(y.size, dtype=numpy.float32).reshape(y.shape)))
        out[name] = (f(nn, m), lib.grad(loss)(m))
    return out


def _jax_table(x, m):
    return jax.jit(lambda x, m: _table(jax, jnp, x, m))(x, m)


def assert_close(ours, theirs, what, rtol=2e-6, atol=1e-37):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), what
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def test_values_and_gradients_inside_jit_match_jax():
    ours = irgrad.jit(lambda x, m: _table(irgrad, inp, x, m))(X, M_FINITE)
    theirs = _jax_table(X, M_FINITE)
    for name in theirs:
        assert_close(ours[name][0], theirs[name][0], f"{name} value")
        # atol: JAX's sigmoid'(20) is s * (1 - s) = 0 since s rounds to 1; ours keeps exp(-20) ~ 2e-9.
        assert_close(ours[name][1], theirs[name][1], f"{name} gradient", atol=1e-8)
        assert np.all(np.isfinite(np.asarray(ours[name][1]))), name


def test_eager_values_match_jax():
    # No compile: every function also runs op by op on NumPy.
    for name, f in ELEMENTWISE.items():
        assert_close(f(irgrad.nn, X), f(jax.nn, X), name)
    for name, f in REDUCING.items():
        assert_close(f(irgrad.nn, M), f(jax.nn, M), name)


def test_kinks_and_overflow():
    g = irgrad.jit(lambda x: (irgrad.grad(lambda x: inp.sum(irgrad.nn.relu(x)))(x),
                              irgrad.grad(lambda x: inp.sum(irgrad.nn.softplus(x)))(x),
                              irgrad.grad(lambda x: inp.sum(irgrad.nn.sigmoid(x)))(x),
                              irgrad.nn.logsumexp(x), irgrad.grad(irgrad.nn.logsumexp)(x)))
    x = np.float32([0.0, 100.0, -100.0])
    relu_g, softplus_g, sigmoid_g, lse, lse_g = g(x)
    np.testing.assert_array_equal(relu_g, [0.0, 1.0, 0.0])            # relu'(0) = 0, as JAX
    np.testing.assert_array_equal(softplus_g, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(sigmoid_g, [0.25, 0.0, 0.0], atol=1e-40)
    np.testing.assert_allclose(lse, 100.0, rtol=1e-7)                   # exp(100) overflows float32
    np.testing.assert_allclose(lse_g, [np.exp(-100.0), 1.0, 0.0], rtol=1e-6, atol=1e-40)


def test_one_hot():
    x = np.int32([0, 2, -1, 3])
    for axis in (-1, 0):
        assert_close(irgrad.nn.one_hot(x, 3, axis=axis), jax.nn.one_hot(x, 3, axis=axis), f"axis {axis}")
