"""irgrad.random: JAX's default PRNG (threefry2x32), bit for bit, eagerly and inside jit.

Keys are uint32 arrays of shape (..., 2), the raw key data JAX's `PRNGKey` holds;
`key(seed)` returns the same data. When every argument is concrete the numbers come
from `random_bits` (NumPy, on the host). When the key (or a bound, `p`, `data`) is
traced, inside `jit` or `grad`, the same algorithms are built as IR and compiled with
the function: the cipher is the `threefry2x32` primitive (one linalg.generic, as JAX's
threefry2x32_p), the samplers are irgrad.numpy ops on its uint32 output, floats come
from the bits through `bitcast_convert_type`, and XLA's float32 `erf_inv` / `log`
polynomials are rebuilt with explicit FMAs where XLA CPU contracts and with
uncontractable products where it does not (IREE contracts every multiply-add), so
the bits equal JAX's inside jit too. `permutation` and `choice` sort random uint32 keys
as JAX does (`primitives.sort`, O(n^2) per row) and gather with one-hot sums.

`config.jax_threefry_partitionable` (irgrad.config, read at each call, or when a jitted
function is traced) picks the counter layout, as in JAX: True (JAX >= 0.5) or the
legacy False streams.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from irgrad.passes.ir import (
    PARALLEL,
    arith,
    elem_type,
    empty,
    generic,
    identity_map,
    linalg,
    map_dims,
    projection_map,
    scalar_constant,
)

from . import numpy_api as jnp
from . import random_bits as rb
from .array import Array
from .config import config
from .core import ShapedArray, Tracer, aval_of, host_value
from .primitives import PRIMITIVES, Primitive, bind, broadcast_operand, broadcast_shapes, sort

_U32 = np.dtype(np.uint32)
_F32 = np.dtype(np.float32)


def _traced(*xs) -> bool:
    return any(isinstance(x, Tracer) for x in xs)


def _key(k) -> np.ndarray:
    """A concrete key's data, for the NumPy path (random_bits)."""
    return np.asarray(host_value(k), np.uint32)


def _partitionable() -> bool:
    return config.jax_threefry_partitionable


def _mode() -> dict:
    """The keyword that selects JAX's threefry layout for the current config."""
    return {"partitionable": _partitionable()}


def _wrap(x, dtype=None):
    return Array(np.asarray(x) if dtype is None else np.asarray(x, dtype))


def _host(x):
    return host_value(x) if isinstance(x, (Array, Tracer)) else x


# ------------------------------------------------------------ the threefry primitive

def _threefry_shape(k0, k1, x0, x1, *, out):
    for a in (k0, k1, x0, x1):
        if a.dtype != _U32:
            raise TypeError(f"threefry2x32 takes uint32 operands, got {a.dtype}")
    shape = broadcast_shapes("threefry2x32", k0, k1, x0, x1)
    return ShapedArray(shape if out == "xor" else (*shape, 2), _U32, False)


def _threefry_impl(k0, k1, x0, x1, *, out):
    y0, y1 = rb.threefry2x32_pair(k0, k1, x0, x1)
    return y0 ^ y1 if out == "xor" else np.stack([y0, y1], axis=-1)


def _threefry_body(k0, k1, x0, x1, *, out, word_dim):
    """The 20 rounds on i32 scalars: wrapping adds, rotations (two shifts and an or), xors."""
    c = lambda v: scalar_constant(v, k0.type)
    ks = (k0, k1, arith.xori(arith.xori(k0, k1), c(rb.KS_PARITY)))
    x0, x1 = arith.addi(x0, ks[0]), arith.addi(x1, ks[1])
    for step in range(5):
        for r in rb.ROTATIONS[step % 2]:
            x0 = arith.addi(x0, x1)
            x1 = arith.xori(arith.ori(arith.shli(x1, c(r)), arith.shrui(x1, c(32 - r))), x0)
        x0 = arith.addi(x0, ks[(step + 1) % 3])
        x1 = arith.addi(arith.addi(x1, ks[(step + 2) % 3]), c(step + 1))
    if out == "xor":
        return arith.xori(x0, x1)
    word = arith.index_cast(k0.type, linalg.IndexOp(word_dim).result)
    return arith.select(arith.CmpIOp(arith.CmpIPredicate.eq, word, c(0)).result, x0, x1)


def _threefry_lower(out_aval, in_avals, *values, out):
    """One linalg.generic over the broadcast shape (plus the word dimension for out="pair")."""
    shape = out_aval.shape if out == "xor" else out_aval.shape[:-1]
    rank = len(out_aval.shape)
    ins, maps = [], []
    for v, a in zip(values, in_avals):
        v, m = broadcast_operand(v, a.shape, shape)
        ins.append(v)
        maps.append(projection_map(rank, map_dims(m)))
    init = empty(out_aval.shape, elem_type(_U32))
    return generic(ins, maps, [init], [identity_map(rank)], [PARALLEL] * rank,
                   lambda k0, k1, x0, x1, _: _threefry_body(k0, k1, x0, x1, out=out, word_dim=len(shape)))[0]


# JAX's threefry2x32_p: key words k0, k1 and counter words x0, x1 (uint32, broadcast) in; out="xor" gives the
# 32 random bits y0 ^ y1, out="pair" the two cipher words stacked on a last axis of size 2.
PRIMITIVES["threefry2x32"] = Primitive("threefry2x32", _threefry_shape, _threefry_impl, _threefry_lower)


def _threefry(k0, k1, x0, x1, out):
    return bind("threefry2x32", k0, k1, x0, x1, out=out)


# ---------------------------------------------------------------- traced key streams

def _key_words(key):
    """The two uint32 words of a single raw key (traced or concrete)."""
    key = jnp.asarray(key)
    if key.shape != (2,):
        raise ValueError(f"expected a single raw threefry key of shape (2,), got shape {key.shape}")
    if not np.issubdtype(key.dtype, np.integer):
        raise TypeError(f"key data must be uint32, got {key.dtype}")
    key = jnp.astype(key, np.uint32)
    return key[0], key[1]


def _iota(n: int):
    return bind("iota", shape=(n,), dimension=0, dtype=_U32)


def _legacy_words(key, count: int):
    """JAX's `threefry_2x32(key, iota(count))`: the first and second halves of the (zero-padded)
    counts are the two cipher words, and the output is y0 followed by y1."""
    half = -(-count // 2)
    i = _iota(half)
    second = i + np.uint32(half)
    if count % 2:
        second = jnp.where(i == np.uint32(half - 1), np.uint32(0), second)
    pairs = _threefry(*_key_words(key), i, second, "pair")
    return jnp.reshape(jnp.transpose(pairs), (-1,))[:count]


def _split_traced(key, shape, partitionable: bool):
    n = math.prod(shape)
    if n == 0:
        return jnp.zeros((*shape, 2), np.uint32)
    if not partitionable:
        return jnp.reshape(_legacy_words(key, 2 * n), (*shape, 2))
    # The counter of element i is the 64-bit i as (hi, lo) = (0, i).
    return jnp.reshape(_threefry(*_key_words(key), np.uint32(0), _iota(n), "pair"), (*shape, 2))


def _random_bits_traced(key, bit_width: int, shape, partitionable: bool):
    """`rb.random_bits` (8/16/32 bits) on a traced key."""
    n = math.prod(shape)
    uint = rb.UINT_BY_BITS[bit_width]
    if n == 0:
        return jnp.zeros(shape, uint)
    if partitionable:
        out = _threefry(*_key_words(key), np.uint32(0), _iota(n), "xor")
    else:
        out = _legacy_words(key, -(-bit_width * n // 32))
        if bit_width < 32:  # little-endian pieces of each word
            shifts = Array(bit_width * np.arange(32 // bit_width, dtype=np.uint32))
            out = jnp.reshape(out[:, None] >> shifts, (-1,))[:n]
    return jnp.reshape(jnp.astype(out, uint) if bit_width < 32 else out, shape)


def _split_keys(key, shape, partitionable: bool):
    if _traced(key):
        return _split_traced(key, shape, partitionable)
    return _wrap(rb.split(_key(key), shape, partitionable=partitionable))


def _random_bits(key, bit_width: int, shape, partitionable: bool):
    if _traced(key):
        return _random_bits_traced(key, bit_width, shape, partitionable)
    return _wrap(rb.random_bits(_key(key), bit_width, shape, partitionable=partitionable))


# ------------------------------------------------------------- traced float samplers

def _bitcast(x, dtype):
    return bind("bitcast_convert_type", x, new_dtype=np.dtype(dtype))


def _fma(a, b, c):
    """a * b + c with one rounding, as XLA CPU's contracted multiply-adds."""
    return bind("fma", a, b, c)


def _mul(a, b):
    """a * b that LLVM cannot contract into a neighbouring add: IREE compiles with FMA contraction on,
    XLA leaves these products alone. (fma(a, b, +0) is a * b, except that -0 comes out +0.)"""
    return _fma(a, b, np.float32(0))


def _f32(bits: int) -> np.float32:
    return rb.f32_from_bits(bits)


def _float_operand(v, dtype):
    """A bound or probability in `dtype`: converted on the host when concrete (as random_bits does)."""
    if _traced(v):
        return jnp.astype(v, dtype)
    with np.errstate(over="ignore"):
        return Array(np.asarray(_host(v)).astype(dtype))


def _uniform_traced(key, shape, dt, minval, maxval, partitionable: bool):
    """`rb.uniform` with irgrad.numpy ops: mantissa bits under 1.0's exponent, minus 1, then an FMA."""
    info = np.finfo(dt)
    nbits, nmant = info.bits, info.nmant
    uint = rb.UINT_BY_BITS[nbits]
    minval, maxval = _float_operand(minval, dt), _float_operand(maxval, dt)
    for v in (minval, maxval):
        if np.broadcast_shapes(shape, v.shape) != shape:
            raise ValueError(f"uniform: minval/maxval shape {v.shape} does not broadcast to {shape}")
    raw = _random_bits(key, nbits, shape, partitionable)
    one_bits = np.array(1.0, dt).view(uint)
    floats = _bitcast((raw >> uint(nbits - nmant)) | one_bits, dt) - dt.type(1.0)
    span = maxval - minval
    if dt == np.float16:  # each op rounded, as rb.uniform (see the note above rb.uniform)
        vals = _f16_product(floats, span) + minval
    else:
        vals = _fma(floats, span, minval)
    return jnp.maximum(minval, vals)


def _f16_product(u, span):
    """u * span rounded to float16, for u >= +0, as an op LLVM cannot fuse into the next add.
    IREE allows FMA contraction, and on a CPU with AVX512-FP16 LLVM turns a float16 multiply-add
    into one `vfmadd213ph` (even when written as f32 ops with truncf/extf between: it shrinks
    those back to f16 first). fma(u, span, +0) (an f32 fma, exact for f16 operands, rounded to f16)
    is not an fmul, so it is never contracted (checked in the assembly for sapphirerapids: a
    vfmadd213ps, a vcvtps2ph, then a separate vaddph); only the sign of a zero product needs
    fixing (-0 + +0 is +0), and with u >= +0 that sign is span's."""
    product = _fma(u, span, np.float16(0))
    signed_zero = _bitcast(_bitcast(span, np.uint16) & np.uint16(0x8000), np.float16)
    return jnp.where(product == np.float16(0), signed_zero, product)


def _xla_log(y):
    """XLA CPU's float32 `log` (see rb.xla_log_f32), with irgrad.numpy ops."""
    z = jnp.maximum(y, _f32(0x00800000))
    zb = _bitcast(z, np.uint32)
    e = jnp.astype(jnp.astype(zb >> np.uint32(23), np.int32) - np.int32(127), np.float32) + np.float32(1)
    m = _bitcast((zb & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000), np.float32)
    below = m < _f32(0x3F3504F3)
    x = (m + np.float32(-1)) + jnp.where(below, m, np.float32(0))
    e = jnp.where(below, e - np.float32(1), e)
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    p0 = _fma(x, _fma(x, _f32(0x3D9021BB), _f32(0xBDEBD1B8)), _f32(0x3DEF251A))
    p1 = _fma(x, _fma(x, _f32(0xBDFE5D4F), _f32(0x3E11E9BF)), _f32(0xBE2AAE50))
    p2 = _fma(x, _fma(x, _f32(0x3E4CCEAC), _f32(0xBE7FFFFC)), _f32(0x3EAAAAAA))
    p = _fma(x3, _fma(x3, p0, p1), p2)
    r = _fma(x3, p, _mul(e, _f32(0xB95E8083)))
    r = (x - _mul(np.float32(0.5), x2)) + r
    r = _fma(e, _f32(0x3F318000), r)
    r = jnp.where(y == np.float32(np.inf), np.float32(np.inf), r)
    r = jnp.where(y == np.float32(0), np.float32(-np.inf), r)
    return jnp.where((y < np.float32(0)) | jnp.isnan(y), np.float32(np.nan), r)


def _xla_log1p(x):
    """XLA CPU's float32 `log1p` (see rb.xla_log1p_f32)."""
    large = _xla_log(x + np.float32(1))
    x2 = _mul(x, x)
    num, den = np.float32(rb.LOG1P_NUM[0]), np.float32(rb.LOG1P_DEN[0])
    for c in rb.LOG1P_NUM[1:]:
        num = _fma(num, x, np.float32(c))
    for c in rb.LOG1P_DEN[1:]:
        den = _fma(den, x, np.float32(c))
    small = x + (_mul(_mul(x, x2), num / den) + _mul(np.float32(-0.5), x2))
    return jnp.where(jnp.abs(x) < np.float32(0.41421356237309504880), small, large)


def _erf_inv(a):
    """XLA's float32 ErfInv (Giles' polynomials; see rb.erf_inv), with irgrad.numpy ops."""
    w_neg = _xla_log1p(_mul(a, -a))
    small = w_neg > np.float32(-5)
    w = jnp.where(small, np.float32(-2.5) - w_neg, jnp.sqrt(-w_neg) + np.float32(-3))
    p = jnp.where(small, np.float32(rb.ERFINV_SMALL[0]), np.float32(rb.ERFINV_LARGE[0]))
    for cs, cl in zip(rb.ERFINV_SMALL[1:], rb.ERFINV_LARGE[1:]):
        p = _fma(w, p, jnp.where(small, np.float32(cs), np.float32(cl)))
    p = jnp.where(jnp.abs(a) == np.float32(1), np.float32(np.inf), p)
    return a * p


def _normal_traced(key, shape, dt, partitionable: bool):
    lo = np.nextafter(dt.type(-1.0), dt.type(0.0))
    u = _uniform_traced(key, shape, dt, lo, dt.type(1.0), partitionable)
    return dt.type(np.sqrt(2.0)) * jnp.astype(_erf_inv(jnp.astype(u, np.float32)), dt)


def _gumbel_traced(key, shape, partitionable: bool):
    u = _uniform_traced(key, shape, _F32, np.finfo(np.float32).tiny, np.float32(1.0), partitionable)
    return -_xla_log(-_xla_log(u))


# ------------------------------------------------------------ traced integer sampler

def _rem(a, b):
    """Unsigned remainder with XLA's semantics, a % 0 == a."""
    zero = b == np.uint32(0)
    return jnp.where(zero, a, a % jnp.where(zero, np.uint32(1), b))


def _int_bound(v):
    if _traced(v):
        if not np.issubdtype(v.dtype, np.integer):
            return jnp.astype(v, np.int32)
        return v
    return Array(rb.int_bounds_array(_host(v)))


def _convert_and_clip(v, dt, shape):
    """`v` clipped to the range it shares with `dt`, then converted (no wrapping)."""
    info, src = np.iinfo(dt), np.iinfo(v.dtype)
    lo, hi = max(int(info.min), int(src.min)), min(int(info.max), int(src.max))
    if (lo, hi) != (int(src.min), int(src.max)):
        v = jnp.clip(v, np.asarray(lo, v.dtype), np.asarray(hi, v.dtype))
    return jnp.broadcast_to(jnp.astype(v, dt), shape)


def _randint_core(key, shape, minval, maxval, dt, partitionable: bool):
    """`rb.randint` with irgrad.numpy ops on uint32 (32-bit dtypes): two draws combined modulo span."""
    info = np.iinfo(dt)
    mn, mx = _convert_and_clip(minval, dt, shape), _convert_and_clip(maxval, dt, shape)
    k1, k2 = _split_keys(key, (2,), partitionable)
    hi = _random_bits(k1, 32, shape, partitionable)
    lo = _random_bits(k2, 32, shape, partitionable)
    span = jnp.astype(mx - mn, np.uint32)
    span = jnp.where(mx <= mn, np.uint32(1), span)
    if int(np.iinfo(maxval.dtype).max) > int(info.max):   # maxval may lie above the dtype's range
        out_of_range = jnp.broadcast_to(maxval > np.asarray(info.max, maxval.dtype), shape)
        span = jnp.where(out_of_range & (mx > mn), span + np.uint32(1), span)
    mult = _rem(np.uint32(2 ** 16), span)
    mult = _rem(mult * mult, span)
    offset = _rem(_rem(hi, span) * mult + _rem(lo, span), span)
    return mn + jnp.astype(offset, dt)


def _randint_traced(key, shape, minval, maxval, dtype, partitionable: bool):
    dt = rb.canonical_dtype(dtype)
    if not np.issubdtype(dt, np.integer):
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    info = np.iinfo(dt)
    minval, maxval = _int_bound(minval), _int_bound(maxval)
    sample_dt = dt
    if info.bits < 32:  # sampled as int32, as random_bits does
        sample_dt = np.dtype(np.int32)
        minval = jnp.clip(jnp.astype(minval, np.int32), np.int32(info.min), np.int32(info.max))
        maxval = jnp.clip(jnp.astype(maxval, np.int32), np.int32(info.min), np.int32(int(info.max) + 1))
    if np.broadcast_shapes(shape, minval.shape, maxval.shape) != shape:
        raise ValueError(f"randint: minval/maxval shapes do not broadcast to {shape}")
    return jnp.astype(_randint_core(key, shape, minval, maxval, sample_dt, partitionable), dt)


# ------------------------------------------------------------------------ public API

def PRNGKey(seed) -> Array:
    """A key from an integer seed, as `jax.random.PRNGKey`: `[0, seed mod 2**32]`.

    >>> PRNGKey(0)
    Array([0, 0], dtype=uint32)
    """
    if _traced(seed):
        if seed.shape or not np.issubdtype(seed.dtype, np.integer):
            raise TypeError(f"PRNG key seed must be an integer scalar, got {seed.dtype}{list(seed.shape)}")
        return jnp.concatenate([jnp.zeros(1, np.uint32), jnp.reshape(jnp.astype(seed, np.uint32), (1,))])
    return _wrap(rb.seed(int(_host(seed))))


def key(seed) -> Array:
    """A key from an integer seed (the same data `jax.random.key` holds)."""
    return PRNGKey(seed)


def key_data(keys) -> Array:
    """The raw uint32 data of `keys` (keys here are their data already)."""
    return jnp.astype(keys, np.uint32) if _traced(keys) else _wrap(_key(keys))


def wrap_key_data(data) -> Array:
    """A key from raw uint32 data."""
    return jnp.astype(data, np.uint32) if _traced(data) else _wrap(np.asarray(_host(data), np.uint32))


def split(key, num=2) -> Array:
    """Split a key into `num` new keys (an int or a shape): `key, sub = split(key)`.

    >>> split(PRNGKey(0)).shape
    (2, 2)
    """
    return _split_keys(key, rb.shape_tuple(num), _partitionable())


def fold_in(key, data) -> Array:
    """A new key from `key` and a 32-bit integer (`data` may be traced, e.g. a step counter).

    >>> fold_in(PRNGKey(3), 1)
    Array([1946498123, 2217676430], dtype=uint32)
    """
    if not _traced(key, data):
        return _wrap(rb.fold_in(_key(key), data if isinstance(data, int) else _host(data)))
    if _traced(data):
        if data.ndim:
            raise TypeError(f"fold_in accepts a scalar, but was given an array of shape {data.shape}")
        d = jnp.astype(data, np.uint32)
    else:
        data = _host(data)
        if np.ndim(data):
            raise TypeError(f"fold_in accepts a scalar, but was given an array of shape {np.shape(data)}")
        if isinstance(data, int) and not isinstance(data, bool) and not 0 <= data <= rb.MASK32:
            raise OverflowError(f"Python integer {data} out of bounds for uint32")
        d = np.uint32(int(np.asarray(data).astype(np.int64)) & rb.MASK32)
    return _threefry(*_key_words(key), np.uint32(0), d, "pair")   # threefry_2x32(key, [0, data])


def bits(key, shape=(), dtype=np.uint32) -> Array:
    """Uniform random bits as unsigned integers of `dtype`.

    >>> bits(PRNGKey(0), (2,), np.uint8)
    Array([167, 146], dtype=uint8)
    """
    if not _traced(key):
        return _wrap(rb.bits(_key(key), shape, dtype, **_mode()))
    dt = rb.canonical_dtype(dtype)
    if not np.issubdtype(dt, np.unsignedinteger):
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dt}")
    return _random_bits_traced(key, dt.itemsize * 8, rb.shape_tuple(shape), _partitionable())


def uniform(key, shape=(), dtype=np.float32, minval=0.0, maxval=1.0) -> Array:
    """Uniform floats in [minval, maxval).

    >>> uniform(PRNGKey(0), (3,))
    Array([0.947667  , 0.9785799 , 0.33229148], dtype=float32)
    """
    if not _traced(key, minval, maxval):
        return _wrap(rb.uniform(_key(key), shape, dtype, _host(minval), _host(maxval), **_mode()))
    dt = rb.float_dtype(dtype, "uniform")
    return _uniform_traced(key, rb.shape_tuple(shape), dt, minval, maxval, _partitionable())


def normal(key, shape=(), dtype=np.float32) -> Array:
    """Standard normal floats: sqrt(2) * erf_inv(u), u uniform in (-1, 1).

    >>> normal(PRNGKey(0), (2,)).shape
    (2,)
    """
    if not _traced(key):
        return _wrap(rb.normal(_key(key), shape, dtype, **_mode()))
    return _normal_traced(key, rb.shape_tuple(shape), rb.float_dtype(dtype, "normal"), _partitionable())


def randint(key, shape, minval, maxval, dtype=np.int32) -> Array:
    """Uniform integers in [minval, maxval).

    >>> randint(PRNGKey(0), (4,), 0, 10)
    Array([9, 0, 2, 3], dtype=int32)
    """
    if not _traced(key, minval, maxval):
        return _wrap(rb.randint(_key(key), shape, _host(minval), _host(maxval), dtype, **_mode()))
    return _randint_traced(key, rb.shape_tuple(shape), minval, maxval, dtype, _partitionable())


def bernoulli(key, p=0.5, shape=None) -> Array:
    """Booleans that are True with probability `p`: uniform(key, shape) < p.

    >>> bernoulli(PRNGKey(0), 0.5, (4,))
    Array([False, False,  True,  True], dtype=bool)
    """
    if not _traced(key, p):
        return _wrap(rb.bernoulli(_key(key), _host(p), shape, **_mode()))
    p = p if _traced(p) else Array(rb.canonical_array(_host(p)))
    if not np.issubdtype(p.dtype, np.floating):
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {p.dtype}.")
    shape = p.shape if shape is None else rb.shape_tuple(shape)
    if np.broadcast_shapes(shape, p.shape) != shape:
        raise ValueError(f"bernoulli: p shape {p.shape} not broadcast-compatible with {shape}")
    dt = rb.float_dtype(p.dtype, "bernoulli")
    return _uniform_traced(key, shape, dt, 0.0, 1.0, _partitionable()) < p


def gumbel(key, shape=(), dtype=np.float32) -> Array:
    """Gumbel samples, -log(-log(u)) (float32)."""
    if not _traced(key):
        return _wrap(rb.gumbel(_key(key), shape, dtype, **_mode()))
    if rb.canonical_dtype(dtype) != _F32:
        raise ValueError(f"gumbel is implemented for float32 only, got {np.dtype(dtype)}")
    return _gumbel_traced(key, rb.shape_tuple(shape), _partitionable())


def permutation(key, x, axis=0, independent=False) -> Array:
    """A random permutation of range(x) (x an int) or of array x along `axis`; with
    `independent=True` every slice along `axis` is shuffled on its own.

    >>> permutation(PRNGKey(0), 5)
    Array([0, 1, 4, 3, 2], dtype=int32)
    """
    if not _traced(key, x):
        return _wrap(rb.permutation(_key(key), _host(x), axis, independent, **_mode()))
    partitionable = _partitionable()
    if jnp.ndim(x) == 0:
        if not np.issubdtype(aval_of(x).dtype, np.integer):
            raise TypeError("x must be an integer or at least 1-dimensional")
        if axis not in (0, -1):
            raise ValueError(f"axis {axis} is out of bounds for a 1-D permutation")
        return _shuffle_traced(key, jnp.arange(int(_host(x)), dtype=np.int32), 0, partitionable)
    arr = jnp.asarray(x)
    axis = _axis(axis, arr.ndim)
    if independent or arr.ndim == 1:
        return _shuffle_traced(key, arr, axis, partitionable)
    return _take(arr, _shuffle_traced(key, jnp.arange(arr.shape[axis], dtype=np.int32), 0, partitionable), axis)


def choice(key, a, shape=(), replace=True, p=None, axis=0) -> Array:
    """Random samples from `a` (an int n for range(n), or an array, along `axis`), with or
    without replacement, uniform or with probabilities `p`.

    >>> choice(PRNGKey(0), 10, (3,))
    Array([9, 0, 2], dtype=int32)
    """
    if not _traced(key, a, p):
        return _wrap(rb.choice(_key(key), _host(a), shape, replace, _host(p), axis, **_mode()))
    if not isinstance(shape, (list, tuple)):
        raise TypeError(f"shape argument of choice must be a sequence, got {shape}")
    shape = rb.shape_tuple(shape)
    arr = jnp.asarray(a)
    if arr.ndim == 0:
        n_inputs = operator.index(_host(a))
    else:
        axis = _axis(axis, arr.ndim)
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return jnp.zeros(shape, arr.dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"Cannot take a larger sample (size {n_draws}) than population (size {n_inputs}) "
                         "when 'replace=False'")
    out_shape = shape if arr.ndim == 0 else arr.shape[:axis] + shape + arr.shape[axis + 1:]
    if p is None and not replace:
        perm = permutation(key, n_inputs if arr.ndim == 0 else arr, axis)
        return jnp.reshape(perm[(slice(None),) * (0 if arr.ndim == 0 else axis) + (slice(n_draws),)], out_shape)
    if p is None:
        ind = randint(key, shape, 0, n_inputs)
    else:
        ind = _weighted_indices(key, _probabilities(p, n_inputs), shape, n_draws, replace)
    return jnp.reshape(ind if arr.ndim == 0 else _take(arr, ind, axis), out_shape)


# ------------------------------------------------------- traced permutation and choice

def _axis(axis, ndim) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim


def _shuffle_traced(key, x, axis: int, partitionable: bool):
    """JAX's `_shuffle`: ceil(3 ln n / ln(2**32 - 1)) rounds (n = x.size), each a stable sort of
    `x` along `axis` by fresh random uint32 keys (lax.sort_key_val; here primitives.sort)."""
    rounds = int(np.ceil(3 * np.log(max(1, x.size)) / np.log(rb.MASK32)))
    for _ in range(rounds):
        keys = _split_keys(key, (2,), partitionable)
        key, subkey = keys[0], keys[1]
        x = sort(_random_bits(subkey, 32, x.shape, partitionable), x, dimension=axis)[1]
    return x


def _take(arr, ind, axis: int):
    """`jnp.take(arr, ind, axis)` for in-range indices (traced or not): a one-hot gather
    along `axis` (sort_gather), which copies values bit for bit."""
    moved = jnp.moveaxis(arr, axis, -1)
    out = bind("sort_gather", moved, jnp.reshape(ind, (-1,)))
    out = jnp.reshape(out, moved.shape[:-1] + tuple(ind.shape))
    rest, k = arr.ndim - 1, len(ind.shape)
    return jnp.transpose(out, list(range(axis)) + list(range(rest, rest + k)) + list(range(axis, rest)))


def _probabilities(p, n_inputs: int):
    p = p if _traced(p) else Array(rb.canonical_array(_host(p)))
    if not np.issubdtype(p.dtype, np.floating):
        p = jnp.astype(p, np.float32)
    if p.shape != (n_inputs,):
        raise ValueError("p must be None or a 1D vector with the same size as a.shape[axis]. "
                         f"p has shape {p.shape} and a.shape[axis] is {n_inputs}.")
    if p.dtype != _F32:
        raise ValueError(f"p must be float32 here, got {p.dtype}")
    return p


def _weighted_indices(key, p, shape, n_draws: int, replace: bool):
    """With replacement: inverse CDF, searchsorted(cumsum(p), sum(p) * (1 - u)). Without:
    Gumbel top-k, the n_draws largest of gumbel + log(p) (ties: lower index first)."""
    if replace:
        cdf = _xla_cumsum(p)
        r = cdf[-1] * (np.float32(1) - uniform(key, shape))
        return _searchsorted_left(cdf, r)
    g = gumbel(key, p.shape) + _xla_log(p)
    return jnp.argsort(g, descending=True)[:n_draws]   # lax.top_k's indices


def _scan_last(x):
    """Inclusive sum along the last axis, strictly left to right."""
    cols = [x[..., 0]]
    for k in range(1, x.shape[-1]):
        cols.append(cols[-1] + x[..., k])
    return jnp.stack(cols, axis=-1)


def _xla_cumsum(x):
    """float32 cumsum in XLA CPU's summation order (see rb.xla_cumsum_f32): sequential up to
    16 elements; else rows of 16 scanned sequentially, offset by the scanned row totals."""
    n = x.shape[0]
    if n <= 16:
        return _scan_last(x)
    rows = -(-n // 16)
    inner = _scan_last(jnp.reshape(jnp.concatenate([x, jnp.zeros(rows * 16 - n, np.float32)]), (rows, 16)))
    offsets = jnp.concatenate([jnp.zeros(1, np.float32), _xla_cumsum(inner[:, -1])[:-1]])
    return jnp.reshape(inner + offsets[:, None], (-1,))[:n]


def _searchsorted_left(a, v):
    """jnp.searchsorted(a, v) for sorted 1-D `a`: how many a[i] < v (NaN counts as largest)."""
    v = v[..., None]
    below = (a < v) | (jnp.isnan(v) & ~jnp.isnan(a))
    return jnp.sum(jnp.astype(below, np.int32), axis=-1)
