"""irgrad.random: JAX's default PRNG (threefry2x32), bit for bit.

Keys are uint32 arrays of shape (..., 2), the raw key data JAX's `PRNGKey` holds;
`key(seed)` returns the same data. The numbers are computed by `random_bits`
(NumPy, on the host) from concrete keys. A key traced inside `jit` is not yet
supported: pass keys in as concrete arrays or draw the numbers outside `jit`.
"""

from __future__ import annotations

import numpy as np

from . import random_bits as rb
from .array import Array
from .core import Tracer, host_value, user_location


def _key(k) -> np.ndarray:
    if isinstance(k, Tracer):
        if k.concrete is not None:
            return np.asarray(k.concrete, np.uint32)
        raise NotImplementedError(
            f"irgrad.random with a key traced inside jit is not supported yet (at {user_location()}); "
            "draw the numbers outside jit and pass them in")
    return np.asarray(host_value(k), np.uint32)


def _wrap(x, dtype=None):
    return Array(np.asarray(x) if dtype is None else np.asarray(x, dtype))


def _host(x):
    return host_value(x) if isinstance(x, (Array, Tracer)) else x


def PRNGKey(seed) -> Array:
    """A key from an integer seed, as `jax.random.PRNGKey`.

    >>> PRNGKey(0)
    Array([0, 0], dtype=uint32)
    """
    return _wrap(rb.seed(int(_host(seed))))


def key(seed) -> Array:
    """A key from an integer seed (the same data `jax.random.key` holds)."""
    return PRNGKey(seed)


def key_data(keys) -> Array:
    return _wrap(_key(keys))


def wrap_key_data(data) -> Array:
    return _wrap(np.asarray(_host(data), np.uint32))


def split(key, num=2) -> Array:
    """Split a key into `num` new keys: `key, sub = split(key)`."""
    return _wrap(rb.split(_key(key), num))


def fold_in(key, data) -> Array:
    return _wrap(rb.fold_in(_key(key), int(_host(data))))


def bits(key, shape=(), dtype=np.uint32) -> Array:
    return _wrap(rb.bits(_key(key), shape, dtype))


def uniform(key, shape=(), dtype=np.float32, minval=0.0, maxval=1.0) -> Array:
    """Uniform floats in [minval, maxval)."""
    return _wrap(rb.uniform(_key(key), shape, dtype, _host(minval), _host(maxval)))


def normal(key, shape=(), dtype=np.float32) -> Array:
    """Standard normal floats.

    >>> normal(PRNGKey(0), (2,)).shape
    (2,)
    """
    return _wrap(rb.normal(_key(key), shape, dtype))


def randint(key, shape, minval, maxval, dtype=np.int32) -> Array:
    return _wrap(rb.randint(_key(key), shape, _host(minval), _host(maxval), dtype))


def bernoulli(key, p=0.5, shape=None) -> Array:
    return _wrap(rb.bernoulli(_key(key), _host(p), shape))


def permutation(key, x, axis=0, independent=False) -> Array:
    return _wrap(rb.permutation(_key(key), _host(x), axis, independent))


def choice(key, a, shape=(), replace=True, p=None, axis=0) -> Array:
    return _wrap(rb.choice(_key(key), _host(a), shape, replace, _host(p), axis))


def gumbel(key, shape=(), dtype=np.float32) -> Array:
    return _wrap(rb.gumbel(_key(key), shape, dtype))
