"""irgrad.nn: the jax.nn activations and normalisers regression and classifier code uses.

Each is written with irgrad.numpy ops, so it runs eagerly and traces under jit / grad;
the forms are chosen so that values follow jax.nn and reverse mode gives JAX's
derivatives without NaNs: relu'(0) = 0, sigmoid and softplus stay finite for large
|x|, and the max that softmax / log_softmax / logsumexp subtract carries no
derivative (JAX's `stop_gradient`).
"""

from __future__ import annotations

import numpy as np

from . import numpy_api as jnp
from .core import aval_of
from .primitives import bind

# The signed integer with a float's width, for the order-preserving integer image below.
_SAME_WIDTH_INT = {2: np.int16, 4: np.int32}


def _inexact(x):
    """`x` as an array of a float dtype (ints become float32), as JAX's promote_args_inexact."""
    x = jnp.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else jnp.astype(x, np.float32)


def _stopped_max(x, axis):
    """max(x, axis, keepdims=True) carrying no derivative, as JAX's stop_gradient(max(x)).

    The max is taken over an integer image of the floats that orders like them (negative
    floats get their magnitude bits flipped), so reverse mode only ever sees integers.
    """
    width = x.dtype.itemsize
    if width not in _SAME_WIDTH_INT:
        return jnp.max(x, axis, keepdims=True)
    it = np.dtype(_SAME_WIDTH_INT[width])
    flip = (1 << (8 * width - 1)) - 1
    i = bind("bitcast_convert_type", x, new_dtype=it)
    m = jnp.max(i ^ ((i >> (8 * width - 1)) & flip), axis, keepdims=True)
    return bind("bitcast_convert_type", m ^ ((m >> (8 * width - 1)) & flip), new_dtype=x.dtype)


def relu(x):
    """max(x, 0), with derivative 0 at 0 (as JAX).

    >>> relu(jnp.array([-1.0, 0.0, 2.0]))
    Array([0., 0., 2.], dtype=float32)
    """
    x = jnp.asarray(x)
    return jnp.where(x > 0, x, 0)


def sigmoid(x):
    """1 / (1 + exp(-x)); for x < 0 computed as exp(x) / (1 + exp(x)) so neither it nor its
    derivative overflows.

    >>> sigmoid(0.0)
    Array(0.5, dtype=float32, weak_type=True)
    """
    x = _inexact(x)
    e = jnp.exp(-jnp.abs(x))
    return jnp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) (JAX's logaddexp(x, 0)).

    >>> softplus(0.0)
    Array(0.6931472, dtype=float32, weak_type=True)
    """
    x = _inexact(x)
    # x >= 0 (not x > 0) puts derivative 1 at 0 here; with |x|'s derivative +1 at 0 the sum is 1/2.
    return jnp.where(x >= 0, x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    return -softplus(-_inexact(x))


def silu(x):
    """x * sigmoid(x) (also `swish`)."""
    x = _inexact(x)
    return x * sigmoid(x)


swish = silu


def leaky_relu(x, negative_slope=1e-2):
    """x for x >= 0, negative_slope * x below."""
    x = _inexact(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) below."""
    x = _inexact(x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.where(x > 0, 0.0, x)))


def gelu(x, approximate=True):
    """Gaussian error linear unit; the tanh approximation by default, as JAX.

    The exact form is computed as x * (1 + erf(x / sqrt 2)) / 2 (JAX uses erfc, which is more
    accurate far in the negative tail).
    """
    x = _inexact(x)
    if approximate:
        c = np.sqrt(2 / np.pi).astype(x.dtype)
        cdf = 0.5 * (1.0 + jnp.tanh(c * (x + 0.044715 * (x ** 3))))
        return x * cdf
    return 0.5 * x * (1.0 + bind("erf", x * np.sqrt(0.5).astype(x.dtype)))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over `axis`, shifted by the max so large inputs do not overflow.

    >>> logsumexp(jnp.array([1000.0, 1000.0]))
    Array(1000.6932, dtype=float32)
    """
    a = _inexact(a)
    if b is not None:
        b = jnp.asarray(b, a.dtype)
        a = jnp.where(b != 0, a, -np.inf)
    amax = _stopped_max(a, axis)
    amax = jnp.where(jnp.isfinite(amax), amax, jnp.zeros_like(amax))
    exp_a = jnp.exp(a - amax)
    if b is not None:
        exp_a = exp_a * b
    sumexp = jnp.sum(exp_a, axis, keepdims=keepdims)
    sign = jnp.sign(sumexp)
    if not keepdims:
        amax = jnp.reshape(amax, aval_of(sumexp).shape)
    out = jnp.log(jnp.abs(sumexp)) + amax
    if return_sign:
        return out, sign
    if b is not None:
        out = jnp.where(sign < 0, np.nan, out)
    return out


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis` (the subtracted max carries no derivative).

    >>> log_softmax(jnp.array([0.0, 0.0]))
    Array([-0.6931472, -0.6931472], dtype=float32)
    """
    x = _inexact(x)
    shifted = x - _stopped_max(x, axis)
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed from x - max(x).

    >>> softmax(jnp.array([0.0, 0.0]))
    Array([0.5, 0.5], dtype=float32)
    """
    x = _inexact(x)
    unnormalized = jnp.exp(x - _stopped_max(x, axis))
    return unnormalized / jnp.sum(unnormalized, axis, keepdims=True)


def one_hot(x, num_classes, dtype=np.float32, axis=-1):
    """One-hot encoding: x[..., None] == arange(num_classes) (out-of-range values give all zeros).

    >>> one_hot(jnp.array([0, 2]), 3)
    Array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    x = jnp.asarray(x)
    out_axis = axis % (x.ndim + 1)
    shape = [1] * (x.ndim + 1)
    shape[out_axis] = num_classes
    classes = jnp.reshape(jnp.arange(num_classes, dtype=x.dtype), shape)
    return jnp.astype(jnp.expand_dims(x, out_axis) == classes, dtype)


__all__ = ["elu", "gelu", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp", "one_hot", "relu", "sigmoid",
           "silu", "softmax", "softplus", "swish"]
