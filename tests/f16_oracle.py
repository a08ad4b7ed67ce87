"""The float16 oracle for `random.uniform` with bounds, independent of the CPU.

JAX computes `u * (maxval - minval) + minval` in float16 with each op rounded on CPUs
without AVX512-FP16 (LLVM widens every f16 op to f32 and rounds it back), and fuses the
multiply-add into one `vfmadd213ph` on CPUs with it (see the note above
`random_bits.uniform`). irgrad rounds each op everywhere. So the tests compare with an
independent per-op reference exactly, and with JAX exactly where JAX rounds per op, and
otherwise within the product's rounding error.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def cpu_fuses_float16() -> bool:
    """Whether this CPU has native float16 arithmetic (then XLA fuses f16 multiply-adds)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "avx512fp16" in line.split() for line in f)
    except OSError:
        return True   # unknown: use the bound, not exact equality


def uniform_f16_per_op(raw_bits: np.ndarray, minval, maxval) -> np.ndarray:
    """jax.random._uniform for float16 from its 16 random bits, every op rounded to float16."""
    f16 = np.float16
    u = ((raw_bits.astype(np.uint16) >> np.uint16(6)) | np.array(1.0, f16).view(np.uint16)).view(f16) - f16(1)
    with np.errstate(over="ignore", invalid="ignore"):
        lo = np.broadcast_to(np.asarray(minval).astype(f16), u.shape)
        hi = np.broadcast_to(np.asarray(maxval).astype(f16), u.shape)
        product = u * (hi - lo)
        return np.maximum(lo, product + lo)


def assert_matches_jax_f16(ours, theirs, minval, maxval):
    """Equal to JAX where JAX rounds each op; else at most the product's rounding error
    plus each result's own rounding (one ulp of the interval's largest magnitude)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype == np.float16 and ours.shape == theirs.shape
    if not cpu_fuses_float16():
        np.testing.assert_array_equal(ours, theirs)
        return
    with np.errstate(over="ignore", invalid="ignore"):
        lo, hi = np.float16(minval), np.float16(maxval)
        scale = np.max(np.abs(np.float32([lo, hi, np.float32(hi) - np.float32(lo)])))
    bound = np.spacing(np.float16(min(scale, 65504)))
    both_nan = np.isnan(ours) & np.isnan(theirs)
    diff = np.abs(ours.astype(np.float32) - theirs.astype(np.float32))
    assert np.all(both_nan | (ours == theirs) | (diff <= bound)), (ours, theirs, bound)
