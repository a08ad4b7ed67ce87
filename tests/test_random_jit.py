"""irgrad.random with traced keys (inside jit and grad) against jax.random, bit for bit.

A traced key runs the threefry cipher and the samplers as irgrad.numpy ops compiled by
IREE; the bits must equal JAX's in both `jax_threefry_partitionable` modes, floats
included (normal goes through XLA's erf_inv polynomial, rebuilt with explicit FMAs).
Each test compiles one function that draws from many samplers at once.
"""

from __future__ import annotations

import f16_oracle
import numpy as np
import pytest
from irgrad.frontend import api
from irgrad.frontend import random_bits as rb
from irgrad.frontend.primitives import bind

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402


def draws(random, key, key_data, step, legacy=False):
    """Every sampler with a traced key (written once for both libraries). The legacy layout
    changes only the key and bit streams, so it gets the samplers that read them directly."""
    if legacy:
        return {
            "split": key_data(random.split(key, 3)),
            "fold_in": key_data(random.fold_in(key, step)),
            "bits": random.bits(key, (5,)),
            "bits_u8": random.bits(key, (7,), np.uint8),
            "bits_u16": random.bits(key, (3,), np.uint16),
            "normal": random.normal(key, (33,)),
            "randint": random.randint(key, (6,), 0, 10),
        }
    return {
        "split": key_data(random.split(key, 3)),
        "split_shape": key_data(random.split(key, (2, 2))),
        "fold_in": key_data(random.fold_in(key, step)),
        "fold_in_const": key_data(random.fold_in(key, 7)),
        "bits": random.bits(key, (5,)),
        "bits_u8": random.bits(key, (7,), np.uint8),
        "bits_u16": random.bits(key, (3,), np.uint16),
        "uniform": random.uniform(key, (2, 3)),
        "uniform_bounds": random.uniform(key, (6,), minval=-2.0, maxval=5.0),
        "uniform_f16": random.uniform(key, (4,), np.float16),
        "normal": random.normal(key, (300,)),
        "normal_scalar": random.normal(key, ()),
        "normal_f16": random.normal(key, (3,), np.float16),
        "randint": random.randint(key, (6,), 0, 10),
        "randint_wide": random.randint(key, (5,), -5, 2**31 - 1),
        "randint_int8": random.randint(key, (5,), -3, 100, np.int8),
        "randint_uint32": random.randint(key, (4,), 0, 10, np.uint32),
        "randint_empty_range": random.randint(key, (3,), 5, 5),
        "bernoulli": random.bernoulli(key, 0.3, (8,)),
        "gumbel": random.gumbel(key, (6,)),
        "choice": random.choice(key, 10, (4,)),
    }




def assert_same(ours, theirs, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), what
    np.testing.assert_array_equal(ours, theirs, err_msg=what)


@pytest.fixture(params=[True, False], ids=["partitionable", "legacy"])
def mode(request):
    saved = (irgrad.config.read("jax_threefry_partitionable"), jax.config.jax_threefry_partitionable)
    irgrad.config.update("jax_threefry_partitionable", request.param)
    jax.config.update("jax_threefry_partitionable", request.param)
    yield request.param
    irgrad.config.update("jax_threefry_partitionable", saved[0])
    jax.config.update("jax_threefry_partitionable", saved[1])


def test_every_sampler_inside_jit_matches_jax(mode):
    # One compile per mode (the mode is read when the function is traced); two keys reuse it.
    legacy = not mode
    fn = irgrad.jit(lambda k, step: draws(irgrad.random, k, lambda x: x, step, legacy))
    jfn = jax.jit(lambda k, step: draws(jax.random, jax.random.wrap_key_data(k), jax.random.key_data, step, legacy))
    for key, step in [(np.array([0, 42], np.uint32), -3), (np.array([7, 4000000000], np.uint32), 11)]:
        ours, theirs = fn(key, np.int32(step)), jfn(key, np.int32(step))
        assert ours.keys() == theirs.keys()
        for name in theirs:
            assert_same(ours[name], theirs[name], name)


def test_normal_and_gumbel_bits_large_sample():
    # erf_inv and log inside IREE: 0 ulp from JAX over 2**16 draws per key.
    fn = irgrad.jit(lambda k: (irgrad.random.normal(k, (1 << 16,)), irgrad.random.gumbel(k, (1 << 12,))))
    for seed in (0, 1701):
        key = rb.seed(seed)
        ours = fn(key)
        jkey = jax.random.wrap_key_data(key)
        assert_same(ours[0], jax.random.normal(jkey, (1 << 16,)))
        assert_same(ours[1], jax.random.gumbel(jkey, (1 << 12,)))


F16_BOUNDS = [(-3.0, 5.7), (0.1, 0.3), (2.0, -1.0), (-0.0, -2.5), (-1e6, 1e-3), (7.0, 7.0)]


def assert_same_bits(ours, theirs, what=""):
    """Equal bit patterns (so -0.0 differs from +0.0), any NaN equal to any NaN."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), what
    nan = np.isnan(ours) & np.isnan(theirs)
    bad = ~nan & (ours.view(np.uint16) != theirs.view(np.uint16))
    assert not bad.any(), f"{what}: {int(bad.sum())} differ, e.g. {ours[bad][:5]} vs {theirs[bad][:5]}"


def test_float16_uniform_bounds_inside_jit_equal_eager_and_jax():
    """Each float16 op rounded inside jit too (IREE would fuse u * span + minval on CPUs with
    AVX512-FP16): the same bits as the NumPy path, as the per-op reference, and as JAX."""
    fn = irgrad.jit(lambda k, lo, hi: [irgrad.random.uniform(k, (1001,), np.float16, lo, hi),
                                       irgrad.random.uniform(k, (5,), np.float16, -3.0, 5.7)])
    for seed in (0, 1701):
        key = rb.seed(seed)
        for lo, hi in F16_BOUNDS:
            with np.errstate(over="ignore"):
                traced, const = fn(key, np.float16(lo), np.float16(hi))
            eager = rb.uniform(key, (1001,), np.float16, lo, hi)
            what = f"seed {seed}, [{lo}, {hi})"
            assert_same_bits(traced, eager, what)
            assert_same_bits(eager, f16_oracle.uniform_f16_per_op(rb.random_bits(key, 16, (1001,)), lo, hi), what)
            f16_oracle.assert_matches_jax_f16(traced, jax.random.uniform(jax.random.wrap_key_data(key), (1001,),
                                                                         np.float16, lo, hi), lo, hi)
        assert_same_bits(const, rb.uniform(key, (5,), np.float16, -3.0, 5.7), "concrete bounds")


def _noisy_step(lib, numpy, key, w, x, y):
    """A training step that splits its key: noise on the inputs, dropout, SGD (lib: irgrad or jax)."""
    key, k_noise, k_drop = lib.random.split(key, 3)
    xn = x + 0.1 * lib.random.normal(k_noise, x.shape)
    keep = lib.random.bernoulli(k_drop, 0.8, w.shape)

    def loss(w):
        pred = xn @ numpy.where(keep, w / 0.8, 0.0)
        return numpy.mean((pred - y) ** 2)

    value, g = lib.value_and_grad(loss)(w)
    return key, w - 0.1 * g, value


def test_training_loop_that_splits_keys_matches_jax():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = (x @ np.float32([1.0, -2.0, 0.5, 3.0])).astype(np.float32)
    w0 = np.zeros(4, np.float32)
    step = irgrad.jit(lambda k, w: _noisy_step(irgrad, inp, k, w, x, y))
    jstep = jax.jit(lambda k, w: _noisy_step(jax, jnp, k, w, x, y))
    key, w = irgrad.random.PRNGKey(0), w0
    jkey, jw = jax.random.PRNGKey(0), w0
    losses, traces = [], None
    for _ in range(30):
        key, w, value = step(key, w)
        jkey, jw, jvalue = jstep(jkey, jw)
        assert_same(key, jkey)                     # the key stream is exactly JAX's
        np.testing.assert_allclose(value, jvalue, rtol=2e-5)
        losses.append(float(value))
        traces = traces or api.stats.traces
    assert api.stats.traces == traces              # traced once, then reused with new keys
    np.testing.assert_allclose(w, jw, rtol=1e-4, atol=1e-5)
    assert losses[-1] < 0.2 * losses[0]


def test_bare_grad_with_a_key_does_not_retrace():
    # Under grad the key's value rides along; the numbers are still built as IR, so a new key
    # reuses the trace instead of specialising on the key's value.
    def loss(w, k):
        return inp.sum((w * irgrad.random.normal(k, (3,))) ** 2)

    def jloss(w, k):
        return jnp.sum((w * jax.random.normal(k, (3,))) ** 2)

    w = np.float32([1.0, 2.0, 3.0])
    g = irgrad.grad(loss)
    traces = None
    for seed in (3, 4):
        ours = g(w, rb.seed(seed))
        np.testing.assert_allclose(ours, jax.grad(jloss)(w, jax.random.PRNGKey(seed)), rtol=1e-6)
        if traces is None:
            traces = api.stats.traces
    assert api.stats.traces == traces


def test_traced_seed_and_key_data():
    fn = irgrad.jit(lambda s: (irgrad.random.PRNGKey(s), irgrad.random.key_data(irgrad.random.split(
        irgrad.random.wrap_key_data(irgrad.random.PRNGKey(s))))))
    for s in (-5, 1701):
        key, keys = fn(np.int32(s))
        assert_same(key, jax.random.PRNGKey(s))
        assert_same(keys, jax.random.split(jax.random.PRNGKey(s)))


def test_concrete_key_with_traced_parameters():
    # The key is a constant of the function; p and the bounds are traced.
    key = rb.seed(5)
    fn = irgrad.jit(lambda p, hi: (irgrad.random.bernoulli(key, p, (6,)), irgrad.random.randint(key, (4,), 0, hi),
                                   irgrad.random.uniform(key, (3,), maxval=p)))
    jkey = jax.random.PRNGKey(5)
    ours = fn(np.float32(0.4), np.int32(9))
    assert_same(ours[0], jax.random.bernoulli(jkey, jnp.float32(0.4), (6,)))
    assert_same(ours[1], jax.random.randint(jkey, (4,), 0, jnp.int32(9)))
    assert_same(ours[2], jax.random.uniform(jkey, (3,), maxval=jnp.float32(0.4)))


def shuffles(random, numpy, key, x, p, legacy=False):
    """permutation and choice with a traced key (and traced data / probabilities): sorts of
    random uint32 keys, Gumbel top-k, inverse-CDF search, gathers. The legacy layout only
    changes the bit streams, so it gets a few of them."""
    out = {
        "perm_int": random.permutation(key, 7),
        "perm_rows_axis1": random.permutation(key, x, axis=1, independent=True),
        "choice_p": random.choice(key, 5, (6,), p=p),
        "choice_p_no_replace": random.choice(key, 5, (3,), replace=False, p=p),
    }
    if legacy:
        return out
    return {**out,
            "perm_array": random.permutation(key, x),
            "perm_axis1": random.permutation(key, x, axis=1),
            "perm_long": random.permutation(key, 2000),     # two sorting rounds past 1625 elements
            "choice_no_replace": random.choice(key, 10, (4,), replace=False),
            "choice_rows": random.choice(key, x, (2,), axis=1),
            "choice_rows_no_replace": random.choice(key, x, (2,), replace=False),
            "choice_p_rows": random.choice(key, x, (2, 1), replace=False, p=p[:4], axis=1),
            "choice_p_many": random.choice(key, 40, (9,), p=numpy.linspace(0.1, 2.0, 40))}   # cumsum past 16


def test_permutation_and_choice_inside_jit_match_jax(mode):
    legacy = not mode
    x = np.float32([[1.5, -0.0, np.inf, 4.0], [np.nan, 6.0, -7.0, 8.0], [9.0, 10.0, 11.0, -12.0]])
    p = np.float32([0.1, 0.4, 0.0, 0.3, 0.2])
    fn = irgrad.jit(lambda k, x, p: shuffles(irgrad.random, inp, k, x, p, legacy))
    jfn = jax.jit(lambda k, x, p: shuffles(jax.random, jnp, jax.random.wrap_key_data(k), x, p, legacy))
    for key in (np.array([0, 42], np.uint32), np.array([7, 4000000000], np.uint32), rb.seed(1701)):
        ours, theirs = fn(key, x, p), jfn(key, x, p)
        assert ours.keys() == theirs.keys()
        for name in theirs:
            assert_same(ours[name], theirs[name], name)
            assert_same(np.signbit(ours[name]), np.signbit(theirs[name]), name)   # -0.0 moved as is


def test_grad_through_permutation_and_choice_matches_jax():
    # The key traced (an argument), the data differentiated, the probabilities traced.
    def loss(random, numpy, x, p, key):
        w = numpy.arange(1.0, 13.0).reshape(3, 4)
        shuffled = random.permutation(key, x, axis=1, independent=True)
        picked = random.choice(key, x, (3,), replace=False, p=p, axis=1)
        return numpy.sum(w * shuffled ** 2) + numpy.sum(picked * w[:, :3])

    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    p = np.float32([0.2, 0.1, 0.3, 0.4])
    g = irgrad.jit(irgrad.value_and_grad(lambda x, p, k: loss(irgrad.random, inp, x, p, k)))
    jg = jax.jit(jax.value_and_grad(lambda x, p, k: loss(jax.random, jnp, x, p, jax.random.wrap_key_data(k))))
    for seed in (0, 5):
        (v, dx), (jv, jdx) = g(x, p, rb.seed(seed)), jg(x, p, rb.seed(seed))
        np.testing.assert_allclose(v, jv, rtol=1e-6)
        np.testing.assert_allclose(dx, jdx, rtol=1e-6)


def test_primitives_threefry_bitcast_fma_and_unsigned_conversions():
    # Each checked eagerly (NumPy impl) and compiled, in one function.
    bits = np.array([0x3F800000, 0x7F800000, 0x80000001, 0xC0490FDB], np.uint32)
    a = np.float32([1.0000001, 3.0, -2.5, 1e-3])
    big = np.array([3000000000, 5], np.uint32)
    small = np.array([200, 5], np.uint8)
    words = np.random.default_rng(1).integers(0, 2**32, (4, 3, 2), dtype=np.uint64).astype(np.uint32)

    def f(bits, a, big, small, words):
        k0, k1, x0, x1 = words[0], words[1, :1], words[2], words[3]          # broadcast (1, 2) against (3, 2)
        return (bind("bitcast_convert_type", bits, new_dtype=np.dtype(np.float32)),
                bind("bitcast_convert_type", a, new_dtype=np.dtype(np.uint32)),
                bind("fma", a, a, -(a * a)), inp.astype(big, inp.float32), inp.astype(small, inp.int32),
                bind("threefry2x32", k0, k1, x0, x1, out="xor"), bind("threefry2x32", k0, k1, x0, x1, out="pair"))

    for ours in (irgrad.jit(f)(bits, a, big, small, words), f(bits, a, big, small, words)):
        y0, y1 = rb.threefry2x32_pair(words[0], words[1, :1], words[2], words[3])
        assert_same(ours[5], y0 ^ y1)
        assert_same(ours[6], np.stack([y0, y1], axis=-1))
        assert_same(ours[0], bits.view(np.float32))
        assert_same(ours[1], a.view(np.uint32))
        exact = (a.astype(np.float64) ** 2 - (a * a).astype(np.float64)).astype(np.float32)  # the product's error
        assert_same(ours[2], exact)
        assert np.asarray(ours[2])[0] != 0                # one rounding: a*a - round(a*a) survives
        assert_same(ours[3], big.astype(np.float32))
        assert_same(ours[4], small.astype(np.int32))
