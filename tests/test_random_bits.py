"""Bit-for-bit comparison of ``frontend.random_bits`` (pure NumPy) against ``jax.random``.

JAX (CPU, x64 disabled) is the oracle: ``jax_threefry_partitionable`` at its default (True) and, in the
``test_partition_*`` tests, in both modes (JAX's config set and restored inside each test).  Integer, key,
boolean and permutation outputs must be identical; float samplers are compared by ulp distance
(``uniform``/``gumbel`` exactly, ``normal`` within 2 ulp - measured: 0 ulp on an FMA-capable x86-64).
float16 ``uniform`` with bounds is CPU-dependent in JAX (tests/f16_oracle.py): exact against a per-op
reference, and against JAX exactly unless the CPU has AVX512-FP16.
"""

from __future__ import annotations

import functools
import types

import f16_oracle
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontend import random_bits as rb

SEEDS = [0, 1, 42, 1701, -7, 2**32 + 3, 123456789]
FEW_SEEDS = [0, 1701, -7, 2**32 + 3]
SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 5), (7, 1, 3), (1001,)]


def jkey(seed: int):
    """Typed JAX key for ``seed``."""
    return jax.random.key(seed)


def np_of(x) -> np.ndarray:
    return np.asarray(x)


def ulp_diff(a, b) -> int:
    """Max distance in units in the last place between two same-dtype float arrays."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    if a.size == 0:
        return 0
    ibits = {2: np.int16, 4: np.int32}[a.dtype.itemsize]
    sign = np.int64(1) << np.int64(a.dtype.itemsize * 8 - 1)

    def ordered(v):
        i = v.view(ibits).astype(np.int64)
        return np.where(i < 0, -(i & (sign - 1)), i)

    return int(np.max(np.abs(ordered(a) - ordered(b))))


def assert_same(ours, theirs):
    theirs = np_of(theirs)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_array_equal(ours, theirs)


# ------------------------------------------------------------------------------------------------
# config and the cipher
# ------------------------------------------------------------------------------------------------


def test_partitionable_mode_is_jax_default():
    # The tests without a mode argument compare the default (partitionable) layout; JAX must default to it.
    assert jax.config.jax_threefry_partitionable is True
    assert jax.config.jax_enable_x64 is False


def test_threefry2x32_known_answer():
    # Random123 known-answer vectors for threefry2x32 with 20 rounds.
    y0, y1 = rb.threefry2x32_pair(0, 0, 0, 0)
    assert (int(y0), int(y1)) == (0x6B200159, 0x99BA4EFE)
    y0, y1 = rb.threefry2x32_pair(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert (int(y0), int(y1)) == (0x1CB996FC, 0xBB002BE7)
    y0, y1 = rb.threefry2x32_pair(0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3)
    assert (int(y0), int(y1)) == (0xC4923A9C, 0x483DF7A0)


@pytest.mark.parametrize("n", [1, 2, 7, 64])
@pytest.mark.parametrize("seed", [0, 1701, 2**31 + 5])
def test_threefry2x32_matches_jax(seed, n):
    from jax._src.random.threefry2x32 import threefry_2x32

    key = rb.seed(seed)
    counts = np.random.default_rng(n).integers(0, 2**32, size=n, dtype=np.uint32)
    assert_same(rb.threefry2x32(key, counts), threefry_2x32(jnp.asarray(key), jnp.asarray(counts)))
    counts2 = counts[: (n // 2) * 2].reshape(-1, 2) if n > 1 else counts
    assert_same(rb.threefry2x32(key, counts2), threefry_2x32(jnp.asarray(key), jnp.asarray(counts2)))


# ------------------------------------------------------------------------------------------------
# keys: seed / split / fold_in
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seed", [0, 1, 42, -1, -(2**31), 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 5, 2**40 + 7,
             2**63 - 1, -(2**63), -(2**40) - 3])
def test_seed(seed):
    assert_same(rb.seed(seed), jax.random.key_data(jax.random.key(seed)))
    assert_same(rb.PRNGKey(seed), jax.random.PRNGKey(seed))


def test_seed_overflow():
    for bad in (2**63, -(2**63) - 1):
        with pytest.raises(OverflowError):
            rb.seed(bad)
        with pytest.raises(OverflowError):
            jax.random.PRNGKey(bad)


@pytest.mark.parametrize("num", [2, 3, 5, 1, (2, 3), (1,), (), (4, 1, 2)])
@pytest.mark.parametrize("seed", SEEDS)
def test_split(seed, num):
    assert_same(rb.split(rb.seed(seed), num), jax.random.key_data(jax.random.split(jkey(seed), num)))


def test_split_default_and_chained():
    k, jk = rb.seed(3), jkey(3)
    for _ in range(5):
        k, sub = rb.split(k)
        jk, jsub = jax.random.split(jk)
        assert_same(k, jax.random.key_data(jk))
        assert_same(sub, jax.random.key_data(jsub))


@pytest.mark.parametrize("data", [0, 1, 7, 2**31, 2**32 - 1, np.uint32(12345), np.int32(99)])
@pytest.mark.parametrize("seed", SEEDS)
def test_fold_in(seed, data):
    assert_same(rb.fold_in(rb.seed(seed), data), jax.random.key_data(jax.random.fold_in(jkey(seed), data)))


def test_fold_in_rejects_out_of_range_python_ints():
    for bad in (-1, 2**32):
        with pytest.raises(OverflowError):
            rb.fold_in(rb.seed(0), bad)


# ------------------------------------------------------------------------------------------------
# random bits
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", FEW_SEEDS)
def test_bits(seed, shape, dtype):
    ours = rb.bits(rb.seed(seed), shape, dtype)
    assert_same(ours, jax.random.bits(jkey(seed), shape, dtype))
    width = np.dtype(dtype).itemsize * 8
    np.testing.assert_array_equal(rb.random_bits(rb.seed(seed), width, shape), ours)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(-(2**63), 2**63 - 1),
       shape=st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple))
def test_bits_property(seed, shape):
    assert_same(rb.random_bits(rb.seed(seed), 32, shape), jax.random.bits(jkey(seed), shape))


def test_random_bits_64_layout():
    # 64-bit draws are hi << 32 | lo of the two cipher words (no uint64 in JAX with x64 off).
    k = rb.seed(11)
    b64 = rb.random_bits(k, 64, (4,))
    y0, y1 = rb.threefry2x32_pair(k[0], k[1], 0, np.arange(4, dtype=np.uint32))
    np.testing.assert_array_equal(b64 >> np.uint64(32), y0)
    np.testing.assert_array_equal(b64 & np.uint64(0xFFFFFFFF), y1)


# ------------------------------------------------------------------------------------------------
# uniform / normal / gumbel / bernoulli
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", FEW_SEEDS)
def test_uniform_default_range(seed, shape, dtype):
    assert_same(rb.uniform(rb.seed(seed), shape, dtype), jax.random.uniform(jkey(seed), shape, dtype))


@pytest.mark.parametrize("bounds", [(-3.0, 5.7), (0.1, 0.3), (-1e6, 1e-3), (2.0, -1.0), (7.0, 7.0), (-0.0, -2.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("seed", [0, 1701, -7])
def test_uniform_bounds(seed, dtype, bounds):
    lo, hi = bounds
    for shape in [(), (3, 4), (1001,)]:
        ours = rb.uniform(rb.seed(seed), shape, dtype, lo, hi)
        theirs = jax.random.uniform(jkey(seed), shape, dtype, lo, hi)
        if dtype == np.float32:  # one FMA on every x86-64 with FMA3: JAX's bits everywhere
            assert_same(ours, theirs)
            continue
        # float16: JAX's rounding depends on the CPU (tests/f16_oracle.py); each op rounded is exact.
        assert_same(ours, f16_oracle.uniform_f16_per_op(rb.random_bits(rb.seed(seed), 16, shape), lo, hi))
        f16_oracle.assert_matches_jax_f16(ours, theirs, lo, hi)


def test_uniform_array_bounds():
    lo = np.float32([0.0, 1.0, 2.0])
    hi = np.float32([[5.0], [6.5]])
    ours = rb.uniform(rb.seed(5), (2, 3), minval=lo, maxval=hi)
    assert_same(ours, jax.random.uniform(jkey(5), (2, 3), minval=lo, maxval=hi))


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")
def test_uniform_float64_request_is_narrowed_like_jax():
    ours = rb.uniform(rb.seed(2), (4,), np.float64)
    assert_same(ours, jax.random.uniform(jkey(2), (4,), jnp.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", FEW_SEEDS)
def test_normal(seed, shape, dtype):
    ours = rb.normal(rb.seed(seed), shape, dtype)
    theirs = np_of(jax.random.normal(jkey(seed), shape, dtype))
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert ulp_diff(ours, theirs) <= 2


@pytest.mark.parametrize("seed", [0, 3, 1701])
def test_normal_large_sample_ulp(seed):
    shape = (300_001,)
    ours = rb.normal(rb.seed(seed), shape)
    theirs = np_of(jax.random.normal(jkey(seed), shape))
    # Tolerance per the spec is 2 ulp; with XLA's FMA contractions emulated we measure 0.
    assert ulp_diff(ours, theirs) <= 2
    assert np.all(np.isfinite(ours))


def test_erf_inv_matches_xla():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(-1, 1, 200_000).astype(np.float32),
        rng.uniform(0.999, 1, 50_000).astype(np.float32),
        -rng.uniform(0.9999999, 1, 1000).astype(np.float32),
        np.float32([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, np.nextafter(np.float32(-1), np.float32(0))]),
    ])
    ours = rb.erf_inv(x)
    theirs = np_of(jax.jit(jax.lax.erf_inv)(x))
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("shape", [(), (4,), (3, 5), (1001,)])
@pytest.mark.parametrize("seed", [0, 42, 1701])
def test_gumbel(seed, shape):
    ours = rb.gumbel(rb.seed(seed), shape)
    theirs = np_of(jax.random.gumbel(jkey(seed), shape))
    assert ulp_diff(ours, theirs) == 0


@pytest.mark.parametrize("p", [0.5, 0.1, 0.999, 0.0, 1.0])
@pytest.mark.parametrize("shape", [(), (4,), (3, 5), (1001,)])
@pytest.mark.parametrize("seed", [0, 42, -7])
def test_bernoulli(seed, shape, p):
    assert_same(rb.bernoulli(rb.seed(seed), p, shape), jax.random.bernoulli(jkey(seed), p, shape))


def test_bernoulli_array_p():
    p = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert_same(rb.bernoulli(rb.seed(9), p), jax.random.bernoulli(jkey(9), p))
    assert_same(rb.bernoulli(rb.seed(9), p, (2, 3, 4)), jax.random.bernoulli(jkey(9), p, (2, 3, 4)))
    assert_same(rb.bernoulli(rb.seed(9)), jax.random.bernoulli(jkey(9)))


# ------------------------------------------------------------------------------------------------
# randint
# ------------------------------------------------------------------------------------------------

RANGES = [(0, 10), (-5, 5), (0, 1), (3, 3), (5, 2), (-(2**31), 2**31 - 1), (0, 2**31 - 1), (-100, 7919)]
INT_DTYPES = [np.int32, np.uint32, np.int8, np.uint8, np.int16, np.uint16]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("bounds", RANGES)
@pytest.mark.parametrize("seed", [1, 2**32 + 3])
def test_randint(seed, bounds, dtype):
    lo, hi = bounds
    for shape in [(), (7,), (3, 4)]:
        assert_same(rb.randint(rb.seed(seed), shape, lo, hi, dtype),
                    jax.random.randint(jkey(seed), shape, lo, hi, dtype))


def test_randint_default_dtype_and_large_shape():
    assert_same(rb.randint(rb.seed(4), (1001,), -3, 1000), jax.random.randint(jkey(4), (1001,), -3, 1000))


def test_randint_special_bounds():
    k, jk = rb.seed(5), jkey(5)
    lo = np.array([0, -5, 10], np.int32)
    hi = np.array([[3], [100]], np.int32)
    assert_same(rb.randint(k, (2, 3), lo, hi), jax.random.randint(jk, (2, 3), lo, hi))
    assert_same(rb.randint(k, (5,), 0.5, 10.7), jax.random.randint(jk, (5,), 0.5, 10.7))
    cases = [(np.uint32(0), np.uint32(2**32 - 1), np.uint32), (0, 256, np.uint8), (-128, 128, np.int8),
             (-300, 300, np.uint16)]
    for lo_, hi_, dt in cases:
        assert_same(rb.randint(k, (50,), lo_, hi_, dt), jax.random.randint(jk, (50,), lo_, hi_, dt))
    with pytest.raises(OverflowError):
        rb.randint(k, (2,), 0, 2**31)


# ------------------------------------------------------------------------------------------------
# permutation / choice
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 5, 17, 1000, 1700, 3000])
@pytest.mark.parametrize("seed", [0, 1, 1701])
def test_permutation_int(seed, n):
    # n > 1625 needs two sorting rounds.
    assert_same(rb.permutation(rb.seed(seed), n), jax.random.permutation(jkey(seed), n))


@pytest.mark.parametrize("independent", [False, True])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("seed", [0, 42])
def test_permutation_array(seed, axis, independent):
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    assert_same(rb.permutation(rb.seed(seed), x, axis, independent),
                jax.random.permutation(jkey(seed), x, axis, independent))


def test_permutation_1d_and_large_independent():
    x = np.arange(10, dtype=np.int32) * 3
    assert_same(rb.permutation(rb.seed(8), x), jax.random.permutation(jkey(8), x))
    big = np.arange(2 * 1000, dtype=np.int32).reshape(2, 1000)  # size 2000 -> two rounds
    assert_same(rb.permutation(rb.seed(8), big, 1, True), jax.random.permutation(jkey(8), big, 1, True))


def _choice_cases():
    for a in (10, np.arange(12, dtype=np.float32).reshape(3, 4) * 1.5, np.arange(50, dtype=np.int32)):
        for shape in [(), (3,), (2, 2)]:
            for replace in (True, False):
                for axis in ([0, 1] if np.ndim(a) == 2 else [0]):
                    n = a if np.ndim(a) == 0 else np.shape(a)[axis]
                    if not replace and np.prod(shape) > n:
                        continue
                    yield a, shape, replace, axis


@pytest.mark.parametrize("seed", [0, 1, 1701, -7])
def test_choice(seed):
    for a, shape, replace, axis in _choice_cases():
        ours = rb.choice(rb.seed(seed), a, shape, replace, axis=axis)
        assert_same(ours, jax.random.choice(jkey(seed), a, shape, replace, axis=axis))


@pytest.mark.parametrize("seed", [0, 1, 1701, -7])
def test_choice_weighted(seed):
    for a, shape, replace, axis in _choice_cases():
        n = a if np.ndim(a) == 0 else np.shape(a)[axis]
        p = np.random.default_rng(abs(seed)).random(n).astype(np.float32)
        p /= p.sum()
        ours = rb.choice(rb.seed(seed), a, shape, replace, p, axis)
        assert_same(ours, jax.random.choice(jkey(seed), a, shape, replace, p, axis))


@pytest.mark.parametrize("n", [16, 17, 129, 1000, 5000])
def test_choice_weighted_long_p(n):
    # Long p exercises XLA's blocked cumsum (rows of 16) and a large Gumbel top-k.
    p = np.random.default_rng(n).random(n).astype(np.float32)
    p[::7] = 0.0
    k, jk = rb.seed(n), jkey(n)
    assert_same(rb.choice(k, n, (4000,), True, p), jax.random.choice(jk, n, (4000,), True, p))
    assert_same(rb.choice(k, n, (n // 3,), False, p), jax.random.choice(jk, n, (n // 3,), False, p))
    np.testing.assert_array_equal(rb.xla_cumsum_f32(p), np_of(jnp.cumsum(p)))


# ------------------------------------------------------------------------------------------------
# tutorial values
# ------------------------------------------------------------------------------------------------

# float32 bit patterns of normal(k, (3,)) for the keys of `key, W_key, b_key = split(key(seed), 3)`
TUTORIAL_BITS = {
    1701: {"key": [3215387974, 3206477869, 1042254249], "W_key": [1063497568, 3201626605, 1067168748],
           "b_key": [1069250300, 1069886273, 3199249209]},
    0: {"key": [1065386890, 3211265463, 3208611895], "W_key": [3223081266, 3221375127, 1045592624],
        "b_key": [1067833190, 1068331260, 3201415122]},
}


@pytest.mark.parametrize("seed", [1701, 0])
def test_tutorial_values(seed):
    key = rb.seed(seed)
    key, W_key, b_key = rb.split(key, 3)
    jk = jax.random.key(seed)
    jk, jW_key, jb_key = jax.random.split(jk, 3)
    for ours, theirs in ((key, jk), (W_key, jW_key), (b_key, jb_key)):
        assert_same(ours, jax.random.key_data(theirs))

    # As written in the tutorial: both draws from `key`.
    W = rb.normal(key, (3,))
    b = rb.normal(key, ())
    assert_same(W, jax.random.normal(jk, (3,)))
    assert_same(b, jax.random.normal(jk, ()))
    # The intended version: W from W_key, b from b_key.
    W2 = rb.normal(W_key, (3,))
    b2 = rb.normal(b_key, ())
    assert_same(W2, jax.random.normal(jW_key, (3,)))
    assert_same(b2, jax.random.normal(jb_key, ()))

    expected = TUTORIAL_BITS[seed]
    np.testing.assert_array_equal(W.view(np.uint32), expected["key"])
    np.testing.assert_array_equal(W2.view(np.uint32), expected["W_key"])
    assert b.view(np.uint32) == expected["key"][0]
    assert b2.view(np.uint32) == expected["b_key"][0]
    if seed == 1701:
        np.testing.assert_allclose(W, [-1.3041160106658936, -0.6209743618965149, 0.15579856932163239])
        np.testing.assert_allclose(b2, 1.4645686149597168)


# ------------------------------------------------------------------------------------------------
# both jax_threefry_partitionable modes (True: JAX >= 0.5 default; False: the legacy layout)
# ------------------------------------------------------------------------------------------------

MODE_SEEDS = [0, 1701, -7, 2**32 + 3]
SPLIT_NUMS = [(), 1, 3, (2, 3)]
P10 = np.random.default_rng(10).random(10).astype(np.float32)
P10 /= P10.sum()
# (sampler, shape, dtype): odd sizes give odd counter counts and a partly used last word of 8/16-bit
# pieces in the legacy layout.  Each entry costs JAX a threefry instance to compile, so the list is short.
DRAWS = [
    ("bits", (), np.uint32), ("bits", (3,), np.uint32), ("bits", (2, 3), np.uint32), ("bits", (1001,), np.uint32),
    ("bits", (), np.uint8), ("bits", (7, 1, 3), np.uint8), ("bits", (3,), np.uint16), ("bits", (7, 1, 3), np.uint16),
    ("uniform", (), np.float32), ("uniform", (2, 3), np.float32), ("uniform", (3,), np.float16),
    ("normal", (), np.float32), ("normal", (3,), np.float32), ("normal", (2, 3), np.float16),
]


def _draws(r, k) -> dict:
    """Every key operation and sampler on key ``k``, through ``r`` (``jax.random``, or ``rb`` / ``irgrad.random``
    adapted to its call signatures); keys are returned as key data.  One table for all, so a single jit per
    mode computes JAX's side."""
    out = {}
    for num in SPLIT_NUMS:
        out[f"split{num}"] = r.key_data(r.split(k, num))
    c = k
    for i in range(3):
        c, sub = r.split(c)
        out[f"chain{i}"] = r.key_data(sub)
    for data in (7, 2**32 - 1):  # fold_in has one layout in both modes
        out[f"fold{data}"] = r.key_data(r.fold_in(c, data))
    for name, shape, dtype in DRAWS:
        out[f"{name}{shape}{dtype.__name__}"] = getattr(r, name)(k, shape, dtype)
    out["uniform_bounds"] = r.uniform(c, (3, 2), np.float32, -2.0, 5.0)
    out["randint"] = r.randint(k, (3, 4), 0, 2**31 - 1)
    out["randint8"] = r.randint(c, (7,), -100, 100, np.int8)
    out["bernoulli"] = r.bernoulli(k, 0.3, (5, 3))
    out["gumbel"] = r.gumbel(c, (7,))
    for n in (5, 1700):  # 1700 needs two sorting rounds (two splits)
        out[f"permutation{n}"] = r.permutation(k, n)
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    out["permutation_axis1"] = r.permutation(c, x, 1, False)
    out["permutation_independent"] = r.permutation(c, x, 2, True)
    for replace in (True, False):
        out[f"choice{replace}"] = r.choice(k, 10, (3,), replace)
        out[f"choice_p{replace}"] = r.choice(c, 10, (3,), replace, P10)
    return out


class _Rb:
    """``rb`` with ``jax.random``'s signatures for one ``jax_threefry_partitionable`` mode."""

    def __init__(self, partitionable: bool):
        self.partitionable = partitionable

    @staticmethod
    def key_data(k):
        return k

    @staticmethod
    def fold_in(k, data):
        return rb.fold_in(k, data)

    def __getattr__(self, name):
        return functools.partial(getattr(rb, name), partitionable=self.partitionable)


@jax.jit
def _jax_draws(key_data):
    return _draws(jax.random, jax.random.wrap_key_data(key_data))


def assert_same_draws(ours: dict, theirs: dict):
    assert ours.keys() == theirs.keys()
    for name, mine in ours.items():
        mine, other = np.asarray(mine), np_of(theirs[name])
        if name.startswith("normal"):  # normal: within 2 ulp, like the single-mode tests above
            assert mine.dtype == other.dtype and mine.shape == other.shape, name
            assert ulp_diff(mine, other) <= 2, name
        else:
            assert mine.dtype == other.dtype and mine.shape == other.shape, name
            np.testing.assert_array_equal(mine, other, err_msg=name)


@pytest.fixture(params=[True, False], ids=["partitionable", "legacy"])
def mode(request):
    """JAX's ``jax_threefry_partitionable`` set to the parameter for the test, then restored."""
    saved = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", request.param)
    yield request.param
    jax.config.update("jax_threefry_partitionable", saved)


def test_partition_modes_differ():
    # The two layouts give different streams, so each mode's comparison below tells them apart.
    k = rb.seed(0)
    assert not np.array_equal(rb.split(k, partitionable=True), rb.split(k, partitionable=False))
    assert not np.array_equal(rb.random_bits(k, 32, (4,)), rb.random_bits(k, 32, (4,), partitionable=False))
    assert not np.array_equal(rb.random_bits(k, 8, (4,)), rb.random_bits(k, 8, (4,), partitionable=False))


@pytest.mark.parametrize("seed", MODE_SEEDS)
def test_partition_all_draws(mode, seed):
    assert_same_draws(_draws(_Rb(mode), rb.seed(seed)), _jax_draws(rb.seed(seed)))


def test_partition_bits_64(mode):
    # 64-bit words exist in JAX only with x64 on; seeds below 2**31 give the same key either way.
    with jax.enable_x64(True):
        theirs = jax.jit(lambda kd: [jax.random.bits(jax.random.wrap_key_data(kd), s, jnp.uint64)
                                     for s in [(), (3,), (2, 2)]])(rb.seed(5))
    for shape, other in zip([(), (3,), (2, 2)], theirs):
        assert_same(rb.random_bits(rb.seed(5), 64, shape, partitionable=mode), other)


def test_partition_legacy_blocks(monkeypatch):
    # Past 2**32 - 1 words the legacy layout hashes blocks with keys from split(key, nblocks + 1).  Shrink
    # the block in both implementations (JAX reads it from dtypes.iinfo(uint32).max) and compare.
    from jax._src.random import threefry2x32 as jtf

    block, cases = 10, [(7, 32, (37,)), (0, 32, (2, 10)), (3, 8, (41,)), (9, 16, (3, 7))]
    real = jtf.dtypes
    fake_iinfo = (lambda t: types.SimpleNamespace(max=block) if np.dtype(t) == np.uint32 else real.iinfo(t))
    monkeypatch.setattr(jtf, "dtypes", types.SimpleNamespace(iinfo=fake_iinfo))
    monkeypatch.setattr(rb, "_LEGACY_BLOCK", block)
    original = jtf._threefry_random_bits_original.__wrapped__  # un-jitted: traced afresh with the patch
    saved = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", False)
    try:
        theirs = jax.jit(lambda kds: [original(kd, w, s) for kd, (_, w, s) in zip(kds, cases)])(
            [rb.seed(seed) for seed, _, _ in cases])
    finally:
        jax.config.update("jax_threefry_partitionable", saved)
    for (seed, width, shape), other in zip(cases, theirs):
        assert_same(rb.random_bits(rb.seed(seed), width, shape, partitionable=False), other)
    # The single-block stream differs from the blocked one, so the blocks were really exercised.
    blocked = rb.random_bits(rb.seed(7), 32, (37,), partitionable=False)
    monkeypatch.setattr(rb, "_LEGACY_BLOCK", rb.MASK32)
    assert not np.array_equal(rb.random_bits(rb.seed(7), 32, (37,), partitionable=False), blocked)


def test_partition_irgrad_random_follows_config(mode):
    # irgrad.random reads irgrad.config.jax_threefry_partitionable at every call.
    import irgrad

    saved = irgrad.config.read("jax_threefry_partitionable")
    irgrad.config.update("jax_threefry_partitionable", mode)
    try:
        ours = _draws(irgrad.random, irgrad.random.key(42))
    finally:
        irgrad.config.update("jax_threefry_partitionable", saved)
    assert_same_draws(ours, _jax_draws(rb.seed(42)))


def test_partition_legacy_tutorial_keys():
    # The 2024 autodiff tutorial (JAX < 0.5): key, W_key, b_key = split(key(0), 3); W, b from W_key, b_key.
    saved = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", False)
    try:
        jkeys = jax.random.split(jax.random.key(0), 3)
        theirs = [jax.random.key_data(jkeys), jax.random.normal(jkeys[1], (3,)), jax.random.normal(jkeys[2], ())]
    finally:
        jax.config.update("jax_threefry_partitionable", saved)
    keys = rb.split(rb.seed(0), 3, partitionable=False)
    assert_same(keys, theirs[0])
    assert_same(rb.normal(keys[1], (3,), partitionable=False), theirs[1])
    assert_same(rb.normal(keys[2], (), partitionable=False), theirs[2])
