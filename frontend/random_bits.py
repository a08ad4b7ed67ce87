"""Pure-NumPy reimplementation of JAX's default PRNG (``threefry2x32``).

This module reproduces, bit for bit, what ``jax.random`` (JAX 0.10.2, CPU, ``jax_enable_x64`` off)
returns for the default ``threefry2x32`` implementation, in both layouts of ``jax_threefry_partitionable``:
``True`` (the default since JAX 0.5, and here) and the legacy ``False`` (pass ``partitionable=False`` to
the functions whose bits depend on it: ``split``, ``random_bits`` and every sampler; ``seed`` and
``fold_in`` are the same in both modes).  It only needs NumPy and the standard library.

Keys are plain ``uint32`` arrays of shape ``(..., 2)``: the raw key data, i.e. what
``jax.random.key_data(jax.random.key(seed))`` or the legacy ``jax.random.PRNGKey(seed)`` hold.

How JAX turns a key into numbers (partitionable mode):

* ``seed(s)`` gives ``[0, s mod 2**32]`` (with x64 off the seed is truncated to 32 bits first).
* To draw ``shape`` values, every element gets its row-major flat index ``i`` as a 64-bit counter,
  split into ``(hi, lo) = (i >> 32, i & 0xffffffff)``; one threefry2x32 block per element gives
  ``(y0, y1)`` and the 32 random bits are ``y0 ^ y1`` (64 bits: ``y0 << 32 | y1``; 8/16 bits: the low
  bits of ``y0 ^ y1``).  ``split(key, shape)`` returns the pairs ``(y0, y1)`` themselves.
* ``fold_in(key, d)`` hashes the two counters ``[0, d]`` with the key (JAX's flat ``threefry_2x32``).

Legacy mode (``partitionable=False``, JAX's ``_threefry_split_original`` / ``_threefry_random_bits_original``):

* ``split(key, shape)`` hashes the flat counts ``iota(2 * n)`` (``n = prod(shape)``) with ``threefry2x32``
  (halves as the two cipher words, see there) and reshapes the ``2 * n`` words to ``(*shape, 2)``.
* ``random_bits`` hashes ``iota(ceil(bit_width * n / 32))`` the same way.  32 bits: one word per element;
  64 bits: ``first_half << 32 | second_half``; 8/16 bits: each word is cut into 4/2 little-endian pieces.
  Past ``2**32 - 1`` words the counts are taken in blocks of ``2**32 - 1``, each hashed with its own
  key from ``split(key, nblocks + 1)`` (the last key for the remainder).

Float arithmetic follows what XLA's CPU backend emits: float32 throughout, with the multiply-adds
that LLVM contracts into FMA instructions evaluated as single-rounding FMAs (see ``fma32``).  In
particular ``erf_inv`` reproduces XLA's float32 ``ErfInv`` (M. Giles' polynomials, via CHLO), including
XLA's own ``log1p``/``log`` expansions, so ``normal`` matches JAX exactly on an FMA-capable x86-64 host.

Dtypes are canonicalised like JAX with x64 disabled: 64-bit requests become their 32-bit counterparts.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

__all__ = [
    "threefry2x32",
    "threefry2x32_pair",
    "seed",
    "key",
    "PRNGKey",
    "split",
    "fold_in",
    "random_bits",
    "bits",
    "uniform",
    "normal",
    "erf_inv",
    "randint",
    "bernoulli",
    "permutation",
    "choice",
    "gumbel",
]

_U32 = np.uint32
MASK32 = 0xFFFFFFFF
# Rotation constants of the two alternating groups of four rounds, and the key-schedule parity word.
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
KS_PARITY = 0x1BD11BDA
UINT_BY_BITS = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
# Legacy mode: the most counts one key hashes in a single iota (JAX uses ``iinfo(uint32).max``).
_LEGACY_BLOCK = MASK32
# x64 disabled: JAX silently narrows these.
_CANONICAL = {
    np.dtype(np.float64): np.dtype(np.float32),
    np.dtype(np.int64): np.dtype(np.int32),
    np.dtype(np.uint64): np.dtype(np.uint32),
    np.dtype(np.complex128): np.dtype(np.complex64),
}


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------


def canonical_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    return _CANONICAL.get(dt, dt)


def canonical_array(x) -> np.ndarray:
    """``jnp.asarray`` with x64 off: Python ints -> int32 (overflow checked), floats -> float32."""
    if isinstance(x, (bool, np.bool_)):
        return np.asarray(x, dtype=np.bool_)
    if isinstance(x, int):
        if not -(2**31) <= x < 2**31:
            raise OverflowError(f"Python int {x} too large to convert to int32")
        return np.asarray(x, dtype=np.int32)
    if isinstance(x, float):
        return np.asarray(x, dtype=np.float32)
    arr = np.asarray(x)
    return arr.astype(canonical_dtype(arr.dtype), copy=False)


def shape_tuple(shape) -> tuple[int, ...]:
    if isinstance(shape, Sequence) or isinstance(shape, np.ndarray):
        return tuple(operator.index(d) for d in shape)
    return (operator.index(shape),)


def _check_key(key) -> np.ndarray:
    k = np.asarray(key)
    if k.shape != (2,):
        raise ValueError(f"expected a single raw threefry key of shape (2,), got shape {k.shape}")
    if k.dtype != np.uint32:
        if not np.issubdtype(k.dtype, np.integer):
            raise TypeError(f"key data must be uint32, got {k.dtype}")
        k = k.astype(np.uint32)
    return k


def _rotl32(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U32(r)) | (x >> _U32(32 - r))


def fma32(a, b, c) -> np.ndarray:
    """Single-rounding float32 fused multiply-add ``a * b + c``.

    The float64 product of two float32 numbers is exact.  The float64 sum is made "round to odd" (if
    it is inexact and its last bit is 0, step one ulp towards the true value) so that the final
    float64 -> float32 conversion rounds only once, correctly.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float32) for v in (a, b, c)))
    p = a.astype(np.float64) * b.astype(np.float64)
    q = c.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        s = p + q
        bb = s - p
        err = (p - (s - bb)) + (q - bb)  # Knuth TwoSum: s + err == p + q exactly
        needs_fix = (err != 0) & np.isfinite(s) & ((s.view(np.uint64) & np.uint64(1)) == 0)
        if np.any(needs_fix):
            toward = np.where(err > 0, np.inf, -np.inf)
            s = np.where(needs_fix, np.nextafter(s, toward), s)
        return s.astype(np.float32)


def f32_from_bits(bits: int) -> np.float32:
    return np.array(bits, dtype=np.uint32).view(np.float32)[()]


def _iota_2x32(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Row-major 64-bit element counters of ``shape`` as ``(hi, lo)`` uint32 arrays (1-D, flat)."""
    n = math.prod(shape)
    idx = np.arange(n, dtype=np.uint64)
    return (idx >> np.uint64(32)).astype(np.uint32), idx.astype(np.uint32)


# ----------------------------------------------------------------------------------------------------
# the block cipher
# ----------------------------------------------------------------------------------------------------


def threefry2x32_pair(k0, k1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 block cipher (20 rounds) applied elementwise to broadcast uint32 arrays.

    This is JAX's ``threefry2x32_p`` primitive: key words ``k0, k1`` and counter words ``x0, x1`` in,
    the two encrypted words out (shape = broadcast shape of the inputs).

    Example:
        >>> y0, y1 = threefry2x32_pair(0, 0, 0, 0)
        >>> int(y0), int(y1)
        (1797259609, 2579123966)
    """
    arrs = np.broadcast_arrays(*(np.asarray(v, dtype=np.uint32) for v in (k0, k1, x0, x1)))
    out_shape = arrs[0].shape
    k0, k1, x0, x1 = (np.ascontiguousarray(a).reshape(-1) for a in arrs)  # >=1-D: no scalar warnings
    ks = (k0, k1, k0 ^ k1 ^ _U32(KS_PARITY))
    with np.errstate(over="ignore"):
        x0 = x0 + ks[0]
        x1 = x1 + ks[1]
        for step in range(5):
            for r in ROTATIONS[step % 2]:
                x0 = x0 + x1
                x1 = _rotl32(x1, r) ^ x0
            x0 = x0 + ks[(step + 1) % 3]
            x1 = x1 + ks[(step + 2) % 3] + _U32(step + 1)
    return x0.reshape(out_shape), x1.reshape(out_shape)


def threefry2x32(key_pair, count_array) -> np.ndarray:
    """JAX's ``threefry_2x32(keypair, count)``: hash a uint32 count array with one key.

    The flattened counts (zero-padded to even length) are cut in two halves that form the two input
    words of the cipher; the two output words are concatenated back (padding dropped) and reshaped.

    Example:
        >>> threefry2x32(np.array([0, 0], np.uint32), np.arange(4, dtype=np.uint32))
        array([4146024105,  967050713, 2718843009, 1272950319], dtype=uint32)
    """
    k = _check_key(key_pair)
    count = np.asarray(count_array)
    if count.dtype != np.uint32:
        raise TypeError(f"threefry2x32 requires uint32 counts, got {count.dtype}")
    flat = count.reshape(-1)
    odd = flat.size % 2
    if odd:
        flat = np.concatenate([flat, np.zeros(1, np.uint32)])
    half = flat.size // 2
    y0, y1 = threefry2x32_pair(k[0], k[1], flat[:half], flat[half:])
    out = np.concatenate([y0, y1])
    if odd:
        out = out[:-1]
    return out.reshape(count.shape)


# ----------------------------------------------------------------------------------------------------
# keys
# ----------------------------------------------------------------------------------------------------


def seed(s) -> np.ndarray:
    """Raw key data of ``jax.random.PRNGKey(s)`` / ``key_data(jax.random.key(s))`` (x64 disabled).

    The seed must fit in int64 (as in JAX); it is then truncated to 32 bits, so the key is
    ``[0, s mod 2**32]``.

    Example:
        >>> seed(42)
        array([ 0, 42], dtype=uint32)
        >>> seed(-1)
        array([         0, 4294967295], dtype=uint32)
    """
    s = operator.index(s)
    if not -(2**63) <= s < 2**63:
        raise OverflowError(f"seed {s} does not fit in int64")
    return np.array([0, s & MASK32], dtype=np.uint32)


key = seed
PRNGKey = seed


def split(key, num=2, *, partitionable: bool = True) -> np.ndarray:
    """Split a key into ``num`` new keys (``num`` an int or a shape); returns shape ``(*num, 2)``.

    ``partitionable=False`` gives the keys of JAX's legacy ``jax_threefry_partitionable=False`` mode.

    Example:
        >>> split(seed(0))
        array([[1797259609, 2579123966],
               [ 928981903, 3453687069]], dtype=uint32)
        >>> split(seed(0), partitionable=False)
        array([[4146024105,  967050713],
               [2718843009, 1272950319]], dtype=uint32)
        >>> split(seed(0), (2, 3)).shape
        (2, 3, 2)
    """
    k = _check_key(key)
    shape = shape_tuple(num)
    if not partitionable:
        return threefry2x32(k, np.arange(2 * math.prod(shape), dtype=np.uint32)).reshape(*shape, 2)
    hi, lo = _iota_2x32(shape)
    y0, y1 = threefry2x32_pair(k[0], k[1], hi, lo)
    return np.stack([y0, y1], axis=-1).reshape(*shape, 2)


def fold_in(key, data) -> np.ndarray:
    """Fold a 32-bit integer into a key (``jax.random.fold_in``).

    Python ints must lie in ``[0, 2**32)`` like in JAX; NumPy integers are wrapped to uint32.  The result
    does not depend on ``jax_threefry_partitionable``.

    Example:
        >>> fold_in(seed(3), 1)
        array([1946498123, 2217676430], dtype=uint32)
    """
    k = _check_key(key)
    if np.ndim(data):
        raise TypeError(f"fold_in accepts a scalar, but was given an array of shape {np.shape(data)}")
    if isinstance(data, int) and not isinstance(data, bool):
        if not 0 <= data <= MASK32:
            raise OverflowError(f"Python integer {data} out of bounds for uint32")
        d = data
    else:
        d = int(np.asarray(data).astype(np.int64)) & MASK32
    return threefry2x32(k, np.array([0, d], dtype=np.uint32))


def _legacy_words(k: np.ndarray, count: int) -> np.ndarray:
    """``count`` legacy-mode random words: ``threefry2x32(k, iota(count))``, in blocks past ``_LEGACY_BLOCK``."""
    nblocks, rem = divmod(count, _LEGACY_BLOCK)
    if not nblocks:
        return threefry2x32(k, np.arange(rem, dtype=np.uint32))
    keys = split(k, nblocks + 1, partitionable=False)
    block = np.arange(_LEGACY_BLOCK, dtype=np.uint32)
    parts = [threefry2x32(sub, block) for sub in keys[:-1]]
    return np.concatenate([*parts, threefry2x32(keys[-1], np.arange(rem, dtype=np.uint32))])


def _random_bits_original(k: np.ndarray, bit_width: int, shape: tuple[int, ...]) -> np.ndarray:
    """JAX's ``_threefry_random_bits_original`` (``jax_threefry_partitionable=False``)."""
    size = math.prod(shape)
    words = _legacy_words(k, -(-bit_width * size // 32))
    if bit_width == 64:
        hi, lo = np.split(words.astype(np.uint64), 2)
        out = (hi << np.uint64(32)) | lo
    elif bit_width == 32:
        out = words
    else:  # little-endian pieces of each word, i.e. ``words.view(uint8 / uint16)[:size]``
        shifts = (bit_width * np.arange(32 // bit_width, dtype=np.uint32)).astype(np.uint32)
        out = (words[:, None] >> shifts).reshape(-1)[:size].astype(UINT_BY_BITS[bit_width])
    return out.reshape(shape)


def random_bits(key, bit_width: int = 32, shape=(), *, partitionable: bool = True) -> np.ndarray:
    """Uniform random bits of width 8/16/32/64 (``jax._src.prng.random_bits``), unsigned dtype.

    ``partitionable=False`` follows JAX's legacy ``jax_threefry_partitionable=False`` layout.

    Example:
        >>> random_bits(seed(0), 32, (3,))
        array([4070199207, 4202968722, 1427181096], dtype=uint32)
        >>> random_bits(seed(0), 32, (3,), partitionable=False)
        array([4146024105, 1351547692, 2718843009], dtype=uint32)
    """
    if bit_width not in UINT_BY_BITS:
        raise TypeError("requires 8-, 16-, 32- or 64-bit field width.")
    k = _check_key(key)
    shape = shape_tuple(shape)
    if not partitionable:
        return _random_bits_original(k, bit_width, shape)
    hi, lo = _iota_2x32(shape)
    y0, y1 = threefry2x32_pair(k[0], k[1], hi, lo)
    if bit_width == 64:
        out = (y0.astype(np.uint64) << np.uint64(32)) | y1.astype(np.uint64)
    else:
        out = (y0 ^ y1).astype(UINT_BY_BITS[bit_width])
    return out.reshape(shape)


def bits(key, shape=(), dtype=np.uint32, *, partitionable: bool = True) -> np.ndarray:
    """``jax.random.bits``: unsigned integers of ``dtype`` (uint64 becomes uint32 with x64 off).

    Example:
        >>> bits(seed(0), (2,), np.uint8)
        array([167, 146], dtype=uint8)
    """
    dt = canonical_dtype(dtype)
    if not np.issubdtype(dt, np.unsignedinteger):
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dt}")
    return random_bits(key, dt.itemsize * 8, shape, partitionable=partitionable)


# ----------------------------------------------------------------------------------------------------
# floating point samplers
# ----------------------------------------------------------------------------------------------------


def float_dtype(dtype, name: str) -> np.dtype:
    dt = canonical_dtype(np.float32 if dtype is None else dtype)
    if dt not in (np.dtype(np.float16), np.dtype(np.float32)):
        raise ValueError(f"dtype argument to `{name}` must be float16 or float32 here, got {dt}")
    return dt


def _uniform(key, shape, dtype, minval, maxval, partitionable: bool = True) -> np.ndarray:
    info = np.finfo(dtype)
    nbits, nmant = info.bits, info.nmant
    with np.errstate(over="ignore"):  # e.g. -1e6 -> -inf in float16, as in JAX
        minval = np.broadcast_to(np.asarray(minval).astype(dtype), shape)
        maxval = np.broadcast_to(np.asarray(maxval).astype(dtype), shape)
    uint = UINT_BY_BITS[nbits]
    raw = random_bits(key, nbits, shape, partitionable=partitionable)
    one_bits = np.array(1.0, dtype).view(uint)
    # Random mantissa under the exponent of 1.0 gives [1, 2); subtracting 1 is exact.
    floats = ((raw >> uint(nbits - nmant)) | one_bits).view(dtype) - dtype.type(1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        span = maxval - minval
        if dtype == np.float16:
            vals = floats * span + minval  # NumPy rounds each float16 op: JAX's semantics (below)
        else:
            vals = fma32(floats, span, minval)  # XLA CPU contracts this into one FMA
    return np.maximum(minval, vals).astype(dtype, copy=False)


# Which rounding `u * span + minval` gets is decided by LLVM, for XLA and IREE alike (both emit
# the multiply and the add with FMA contraction allowed). float32: every x86-64 with FMA3 (all
# AVX2 / AVX-512 machines) fuses it into one FMA, so JAX's float32 numbers are CPU-independent
# there, and we reproduce the FMA. float16: XLA keeps the ops in f16 (checked in its dumped HLO
# and LLVM IR), and LLVM fuses an f16 multiply-add only where f16 arithmetic is native
# (the avx512fp16 flag: Sapphire Rapids and later Xeons, `vfmadd213ph`); elsewhere (e.g. AMD
# EPYC Zen 3/4, Intel before Sapphire Rapids) it widens each op to f32 and rounds it back to
# f16 (`vcvtps2ph` after every op), which is the correctly rounded f16 op. So JAX's float16
# uniform is CPU-dependent: per-op rounding on most CPUs, one rounding on AVX512-FP16 ones
# (then up to half an ulp of the product apart). irgrad implements what jax.random._uniform
# writes and XLA's HLO semantics promise, each op rounded to float16 — equal to JAX bit for
# bit on every x86-64 without AVX512-FP16, and the same on every CPU for our eager (here) and
# jitted (random._uniform_traced) paths.


def uniform(key, shape=(), dtype=np.float32, minval=0.0, maxval=1.0, *, partitionable: bool = True) -> np.ndarray:
    """Uniform floats in ``[minval, maxval)`` (``jax.random.uniform``); float32 (default) or float16.

    The top ``nmant`` random bits become the mantissa of a float in ``[1, 2)``, minus 1, then
    ``max(minval, u * (maxval - minval) + minval)``: one FMA in float32 (as XLA CPU contracts it),
    each op rounded in float16 (see the note above ``uniform``).

    Example:
        >>> uniform(seed(0), (3,))
        array([0.947667  , 0.9785799 , 0.33229148], dtype=float32)
    """
    dt = float_dtype(dtype, "uniform")
    return _uniform(key, shape_tuple(shape), dt, minval, maxval, partitionable)


# Coefficients (float32) of XLA's float32 log1p for |x| < sqrt(2) - 1 (a Cephes rational function),
# numerator and denominator, highest degree first.
LOG1P_NUM = (
    4.5270000862445199635215e-5, 4.9854102823193375972212e-1, 6.5787325942061044846969e0,
    2.9911919328553073277375e1, 6.0949667980987787057556e1, 5.7112963590585538103336e1,
    2.0039553499201281259648e1,
)
LOG1P_DEN = (
    1.0, 1.5062909083469192043167e1, 8.3047565967967209469434e1, 2.2176239823732856465394e2,
    3.0909872225312059774938e2, 2.1642788614495947685003e2, 6.0118660497603843919306e1,
)
# Giles' erfinv polynomials (w < 5 and w >= 5), highest degree first, as in XLA's ErfInv32.
ERFINV_SMALL = (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
)
ERFINV_LARGE = (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
    -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
)


def xla_log_f32(y: np.ndarray) -> np.ndarray:
    """XLA CPU's float32 ``log`` (Eigen's ``plog_float`` with the FMA contractions LLVM makes)."""
    y = np.asarray(y, np.float32)
    h = f32_from_bits
    z = np.maximum(y, h(0x00800000))  # smallest normal
    zb = z.view(np.uint32)
    e = ((zb >> _U32(23)).astype(np.int32) - 127).astype(np.float32) + np.float32(1)
    m = ((zb & _U32(0x807FFFFF)) | _U32(0x3F000000)).view(np.float32)  # mantissa in [0.5, 1)
    below = m < h(0x3F3504F3)  # sqrt(0.5)
    x = (m + np.float32(-1)) + np.where(below, m, np.float32(0))
    e = np.where(below, e - np.float32(1), e)
    x2 = x * x
    x3 = x2 * x
    p0 = fma32(x, fma32(x, h(0x3D9021BB), h(0xBDEBD1B8)), h(0x3DEF251A))
    p1 = fma32(x, fma32(x, h(0xBDFE5D4F), h(0x3E11E9BF)), h(0xBE2AAE50))
    p2 = fma32(x, fma32(x, h(0x3E4CCEAC), h(0xBE7FFFFC)), h(0x3EAAAAAA))
    p = fma32(x3, fma32(x3, p0, p1), p2)
    r = fma32(x3, p, e * h(0xB95E8083))  # ... - e * 2.12194440e-4 (low part of ln 2)
    r = (x - np.float32(0.5) * x2) + r
    r = fma32(e, h(0x3F318000), r)  # + e * 0.693359375 (high part of ln 2)
    with np.errstate(invalid="ignore"):
        r = np.where(y == np.float32(np.inf), np.float32(np.inf), r)
        r = np.where(y == 0, np.float32(-np.inf), r)
        r = np.where((y < 0) | np.isnan(y), np.float32(np.nan), r)
    return r.astype(np.float32, copy=False)


def xla_log1p_f32(x: np.ndarray) -> np.ndarray:
    """XLA CPU's float32 ``log1p``: Cephes rational for |x| < sqrt(2)-1, else ``log(1 + x)``."""
    x = np.asarray(x, np.float32)
    with np.errstate(all="ignore"):
        large = xla_log_f32(x + np.float32(1))
        x2 = x * x
        num = np.full_like(x, np.float32(LOG1P_NUM[0]))
        for c in LOG1P_NUM[1:]:
            num = fma32(num, x, np.float32(c))
        den = np.full_like(x, np.float32(LOG1P_DEN[0]))
        for c in LOG1P_DEN[1:]:
            den = fma32(den, x, np.float32(c))
        small = x + ((x * x2) * (num / den) + np.float32(-0.5) * x2)
    return np.where(np.abs(x) < np.float32(0.41421356237309504880), small, large).astype(np.float32)


def erf_inv(x) -> np.ndarray:
    """Float32 inverse error function exactly as XLA CPU computes ``lax.erf_inv`` (ErfInv32).

    ``w = -log1p(-x*x)``; for ``w < 5`` evaluate Giles' polynomial at ``w - 2.5``, otherwise at
    ``sqrt(w) - 3`` (Horner steps are FMAs); the result is ``p * x`` and ``+-inf`` at ``|x| == 1``.

    Example:
        >>> erf_inv(np.float32([0.0, 0.5, -0.9]))
        array([ 0.        ,  0.47693628, -1.163087  ], dtype=float32)
    """
    a = np.asarray(x, np.float32)
    w_neg = xla_log1p_f32(a * (-a))  # = -w
    small = w_neg > np.float32(-5)
    with np.errstate(invalid="ignore"):
        w = np.where(small, np.float32(-2.5) - w_neg, np.sqrt(-w_neg) + np.float32(-3)).astype(np.float32)
    p = np.where(small, np.float32(ERFINV_SMALL[0]), np.float32(ERFINV_LARGE[0]))
    for cs, cl in zip(ERFINV_SMALL[1:], ERFINV_LARGE[1:]):
        p = fma32(w, p, np.where(small, np.float32(cs), np.float32(cl)))
    p = np.where(np.abs(a) == np.float32(1), np.float32(np.inf), p)
    return (a * p).astype(np.float32, copy=False)


def normal(key, shape=(), dtype=np.float32, *, partitionable: bool = True) -> np.ndarray:
    """Standard normal samples (``jax.random.normal``): ``sqrt(2) * erf_inv(u)``.

    ``u`` is ``uniform(key, shape, dtype, nextafter(-1, 0), 1)``.  float16 evaluates ``erf_inv`` in
    float32 (as XLA's CHLO expansion does) and rounds back.

    Example:
        >>> normal(seed(0), (3,))
        array([ 1.6226422 ,  2.0252647 , -0.43359444], dtype=float32)
    """
    dt = float_dtype(dtype, "normal")
    shape = shape_tuple(shape)
    lo = np.nextafter(dt.type(-1.0), dt.type(0.0))
    u = _uniform(key, shape, dt, lo, dt.type(1.0), partitionable)
    sqrt2 = dt.type(np.sqrt(2.0))
    return (sqrt2 * erf_inv(u.astype(np.float32)).astype(dt)).astype(dt)


def gumbel(key, shape=(), dtype=np.float32, mode: str = "low", *, partitionable: bool = True) -> np.ndarray:
    """Gumbel samples (``jax.random.gumbel``, float32, ``mode='low'``): ``-log(-log(u))``.

    Example:
        >>> gumbel(seed(0), (2,))
        array([2.9233725, 3.8326178], dtype=float32)
    """
    dt = canonical_dtype(dtype)
    if dt != np.float32:
        raise ValueError(f"gumbel is implemented for float32 only, got {dt}")
    if mode != "low":
        raise NotImplementedError("only mode='low' (JAX's default) is implemented")
    tiny = np.finfo(np.float32).tiny
    u = _uniform(key, shape_tuple(shape), dt, tiny, np.float32(1.0), partitionable)
    return -xla_log_f32(-xla_log_f32(u))


def bernoulli(key, p=0.5, shape=None, *, partitionable: bool = True) -> np.ndarray:
    """Boolean Bernoulli samples (``jax.random.bernoulli``, mode 'low'): ``uniform(key, shape) < p``.

    Example:
        >>> bernoulli(seed(0), 0.5, (4,))
        array([False, False,  True,  True])
    """
    p_arr = canonical_array(p)
    if not np.issubdtype(p_arr.dtype, np.floating):
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {p_arr.dtype}.")
    if shape is None:
        shape = p_arr.shape
    else:
        shape = shape_tuple(shape)
        if np.broadcast_shapes(shape, p_arr.shape) != shape:
            raise ValueError(f"bernoulli: p shape {p_arr.shape} not broadcast-compatible with {shape}")
    dt = float_dtype(p_arr.dtype, "bernoulli")
    return _uniform(key, shape, dt, 0.0, 1.0, partitionable) < p_arr


# ----------------------------------------------------------------------------------------------------
# integer samplers
# ----------------------------------------------------------------------------------------------------


def int_bounds_array(v) -> np.ndarray:
    arr = canonical_array(v)
    if not np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.int32)  # like `.astype(int)` in JAX: truncate toward zero
    return arr


def randint(key, shape, minval, maxval, dtype=np.int32, *, partitionable: bool = True) -> np.ndarray:
    """Uniform integers in ``[minval, maxval)`` (``jax.random.randint``).

    Two independent ``nbits`` draws ``hi, lo`` (keys from ``split(key)``) are combined as
    ``((hi % span) * (2**nbits % span) + lo % span) % span`` with ``span = maxval - minval``
    (``span = 1`` when ``maxval <= minval``).  8/16-bit dtypes are sampled as int32 and cast.

    Example:
        >>> randint(seed(0), (4,), 0, 10)
        array([9, 0, 2, 3], dtype=int32)
    """
    k = _check_key(key)
    shape = shape_tuple(shape)
    dt = canonical_dtype(dtype)
    if not np.issubdtype(dt, np.integer):
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    info = np.iinfo(dt)
    minval = int_bounds_array(minval)
    maxval = int_bounds_array(maxval)
    sample_dt = dt
    if info.bits < 32:
        sample_dt = np.dtype(np.int32)
        minval = np.clip(minval.astype(np.int32).astype(np.int64), int(info.min), int(info.max))
        maxval = np.clip(maxval.astype(np.int32).astype(np.int64), int(info.min), int(info.max) + 1)
        minval, maxval = minval.astype(np.int32), maxval.astype(np.int32)
    if np.broadcast_shapes(shape, minval.shape, maxval.shape) != shape:
        raise ValueError(f"randint: minval/maxval shapes do not broadcast to {shape}")
    return _randint(k, shape, minval, maxval, sample_dt, partitionable).astype(dt)


def _randint(k, shape, minval, maxval, dt, partitionable: bool = True) -> np.ndarray:
    info = np.iinfo(dt)
    nbits = info.bits
    modulus = 2**nbits

    def convert_and_clip(v):  # clip to the range both dtypes share, then convert (no wrapping)
        src = np.iinfo(v.dtype)
        lo, hi = max(int(info.min), int(src.min)), min(int(info.max), int(src.max))
        return np.broadcast_to(np.clip(v.astype(np.int64), lo, hi), shape)

    # All values fit in int64 (at most 32-bit dtypes here), and uint64 holds every product below.
    dtype_max_in_maxval_dtype = min(int(info.max), int(np.iinfo(maxval.dtype).max))
    out_of_range = np.broadcast_to(maxval.astype(np.int64) > dtype_max_in_maxval_dtype, shape)
    mn, mx = convert_and_clip(minval), convert_and_clip(maxval)

    k1, k2 = split(k, partitionable=partitionable)
    hi = random_bits(k1, nbits, shape, partitionable=partitionable).astype(np.uint64)
    lo = random_bits(k2, nbits, shape, partitionable=partitionable).astype(np.uint64)

    span = ((mx - mn) % modulus).astype(np.uint64)
    span = np.where(mx <= mn, np.uint64(1), span)
    span = np.where(out_of_range & (mx > mn), (span + np.uint64(1)) % np.uint64(modulus), span)

    def rem(a, b):  # XLA semantics: x % 0 == x
        safe = np.where(b == 0, np.uint64(1), b)
        return np.where(b == 0, a, a % safe)

    mult = rem(np.uint64(2 ** (nbits // 2)), span)
    mult = rem((mult * mult) % np.uint64(modulus), span)
    offset = (rem(hi, span) * mult + rem(lo, span)) % np.uint64(modulus)
    offset = rem(offset, span)
    res = (mn + offset.astype(np.int64)) % modulus
    if np.issubdtype(dt, np.signedinteger):
        res = np.where(res > info.max, res - modulus, res)
    return res.astype(dt).reshape(shape)


# ----------------------------------------------------------------------------------------------------
# permutations and choice
# ----------------------------------------------------------------------------------------------------


def _shuffle(key, x: np.ndarray, axis: int, partitionable: bool = True) -> np.ndarray:
    """Sort ``x`` along ``axis`` by fresh 32-bit random keys, ``ceil(3 ln n / ln(2**32 - 1))`` times."""
    k = _check_key(key)
    exponent = 3
    num_rounds = int(np.ceil(exponent * np.log(max(1, x.size)) / np.log(MASK32)))
    for _ in range(num_rounds):
        k, subkey = split(k, partitionable=partitionable)
        sort_keys = random_bits(subkey, 32, x.shape, partitionable=partitionable)
        order = np.argsort(sort_keys, axis=axis, kind="stable")
        x = np.take_along_axis(x, order, axis=axis)
    return x


def permutation(key, x, axis: int = 0, independent: bool = False, *, partitionable: bool = True) -> np.ndarray:
    """Random permutation of ``range(x)`` or of array ``x`` along ``axis`` (``jax.random.permutation``).

    Example:
        >>> permutation(seed(0), 5)
        array([0, 1, 4, 3, 2], dtype=int32)
    """
    if np.ndim(x) == 0:
        if not np.issubdtype(np.asarray(x).dtype, np.integer):
            raise TypeError("x must be an integer or at least 1-dimensional")
        r = operator.index(x)
        if axis not in (0, -1):
            raise ValueError(f"axis {axis} is out of bounds for a 1-D permutation")
        return _shuffle(key, np.arange(r, dtype=np.int32), 0, partitionable)
    arr = canonical_array(x)
    axis = operator.index(axis)
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of bounds for array of dimension {arr.ndim}")
    axis %= arr.ndim
    if independent or arr.ndim == 1:
        return _shuffle(key, arr, axis, partitionable)
    ind = _shuffle(key, np.arange(arr.shape[axis], dtype=np.int32), 0, partitionable)
    return np.take(arr, ind, axis=axis)


def xla_cumsum_f32(x: np.ndarray) -> np.ndarray:
    """Inclusive float32 cumsum in the summation order of XLA CPU's rewritten reduce-window.

    Up to 16 elements the sum is sequential.  Longer inputs are zero-padded to rows of 16, scanned
    sequentially within each row, and each row is offset by the (recursively scanned) exclusive sum
    of the preceding row totals.
    """
    x = np.asarray(x, np.float32)
    n = x.size
    if n <= 16:
        return np.cumsum(x, dtype=np.float32)
    rows = -(-n // 16)
    inner = np.cumsum(np.concatenate([x, np.zeros(rows * 16 - n, np.float32)]).reshape(rows, 16),
                      axis=1, dtype=np.float32)
    offsets = np.concatenate([np.zeros(1, np.float32), xla_cumsum_f32(inner[:, -1])[:-1]])
    return (inner + offsets[:, None]).reshape(-1)[:n]


def _top_k_indices(values: np.ndarray, k: int) -> np.ndarray:
    # Descending, ties broken by lower index (stable); NaNs first like XLA's total order for top_k.
    v = values.astype(np.float32)
    nan = np.isnan(v)
    order = np.lexsort((np.arange(v.size), -np.where(nan, np.inf, v), ~nan))
    return order[:k].astype(np.int32)


def choice(key, a, shape=(), replace: bool = True, p=None, axis: int = 0, *,
           partitionable: bool = True) -> np.ndarray:
    """Random sample from ``a`` (an int ``n`` meaning ``arange(n)``, or an array) (``jax.random.choice``).

    * uniform with replacement: ``randint(key, shape, 0, n)`` indices;
    * uniform without replacement: the first draws of ``permutation(key, ...)``;
    * weighted with replacement: inverse CDF, ``searchsorted(cumsum(p), sum(p) * (1 - uniform))``;
    * weighted without replacement: Gumbel top-k, ``top_k(gumbel(key, (n,)) + log(p), n_draws)``.

    Example:
        >>> choice(seed(0), 10, (3,))
        array([9, 0, 2], dtype=int32)
    """
    k = _check_key(key)
    if not isinstance(shape, Sequence):
        raise TypeError(f"shape argument of choice must be a sequence, got {shape}")
    shape = shape_tuple(shape)
    arr = canonical_array(a)
    if arr.ndim == 0:
        n_inputs = operator.index(a)
    else:
        axis = operator.index(axis)
        if not -arr.ndim <= axis < arr.ndim:
            raise ValueError(f"axis {axis} is out of bounds for array of dimension {arr.ndim}")
        axis %= arr.ndim
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return np.zeros(shape, dtype=arr.dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(
            f"Cannot take a larger sample (size {n_draws}) than population (size {n_inputs}) "
            "when 'replace=False'")

    if p is None:
        if replace:
            ind = randint(k, shape, 0, n_inputs, partitionable=partitionable)
            result = ind if arr.ndim == 0 else np.take(arr, ind, axis=axis)
        else:
            perm = permutation(k, n_inputs if arr.ndim == 0 else arr, axis, partitionable=partitionable)
            result = perm[(slice(None),) * (0 if arr.ndim == 0 else axis) + (slice(n_draws),)]
    else:
        p_arr = canonical_array(p)
        if not np.issubdtype(p_arr.dtype, np.floating):
            p_arr = p_arr.astype(np.float32)
        if p_arr.shape != (n_inputs,):
            raise ValueError(
                "p must be None or a 1D vector with the same size as a.shape[axis]. "
                f"p has shape {p_arr.shape} and a.shape[axis] is {n_inputs}.")
        if p_arr.dtype != np.float32:
            raise ValueError(f"p must be float32 here, got {p_arr.dtype}")
        if replace:
            p_cuml = xla_cumsum_f32(p_arr)
            u = _uniform(k, shape, np.dtype(np.float32), 0.0, 1.0, partitionable)
            r = p_cuml[-1] * (np.float32(1) - u)
            ind = np.searchsorted(p_cuml, r, side="left").astype(np.int32)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                g = gumbel(k, (n_inputs,), np.float32, partitionable=partitionable) + xla_log_f32(p_arr)
            ind = _top_k_indices(g, n_draws)
        result = ind if arr.ndim == 0 else np.take(arr, ind, axis=axis)

    out_shape = shape if arr.ndim == 0 else arr.shape[:axis] + shape + arr.shape[axis + 1:]
    return np.asarray(result).reshape(out_shape)
