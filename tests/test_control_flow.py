"""Python control flow on values under bare grad / value_and_grad (as JAX allows), and the
tracer errors the same code raises under jit. Values and gradients are checked against JAX."""

import os

import jax
import jax.numpy as jjnp
import numpy as np
import pytest
from irgrad.frontend.api import stats

import irgrad
import irgrad.numpy as jnp

HERE = os.path.basename(__file__)


def _line(marker):
    """Line number of the source line holding `# <marker>` in this file."""
    with open(__file__) as fh:
        for k, text in enumerate(fh, 1):
            if text.rstrip().endswith(f"# <{marker}>"):
                return k
    raise AssertionError(marker)


def make_scalar_branch(np_):
    def f(x):
        if x < 3:  # <scalar-if>
            return x ** 2 * np_.sin(x)
        return np_.cos(x) * x
    return f


def make_sum_branch(np_):
    def f(x):
        if np_.sum(x) > 0:  # <sum-if>
            return np_.sum(np_.tanh(x) * x)
        return np_.sum(x ** 3)
    return f


def make_while(np_):
    def f(x):
        y = x
        while y < 10.0:  # <while>
            y = y * 1.5 + x
        return y
    return f


def make_int_loop(np_):
    def f(x, n):
        for _ in range(int(n)):  # <int>
            x = np_.sin(x) * 1.1
        return np_.sum(x)
    return f


def make_mask(np_):
    def f(x):
        return np_.sum(x[x > 0] ** 2)  # <mask>
    return f


def make_static_take(np_):
    def f(x, idx):
        return np_.sum(x[idx] * np_.arange(len(idx), dtype=np.float32)[:, None])
    return f


def _jax(fn):
    return fn(jjnp)


def _check(ours, theirs, args_list, argnums=0, jit_reference=False):
    """irgrad's value_and_grad and grad against JAX's value_and_grad (whose gradient is what
    jax.grad returns: grad is value_and_grad's second output). jit_reference: JAX's side has no
    control flow on values, so it runs under jax.jit (one XLA compile, not one per op)."""
    vg, jvg = irgrad.value_and_grad(ours, argnums=argnums), jax.value_and_grad(theirs, argnums=argnums)
    jvg = jax.jit(jvg) if jit_reference else jvg
    g = irgrad.grad(ours, argnums=argnums)
    for args in args_list:
        v, d = vg(*args)
        jv, jd = jvg(*args)
        np.testing.assert_allclose(np.asarray(v), np.asarray(jv), rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(d), np.asarray(jd), rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(g(*args)), np.asarray(jd), rtol=2e-5, atol=1e-6)


F = np.float32


def test_scalar_branch_both_paths_and_back():
    _check(make_scalar_branch(jnp), make_scalar_branch(jjnp), [(F(1.0),), (F(5.0),), (F(2.5),), (F(7.0),), (F(1.0),)])


def test_reduction_branch_both_paths_and_back():
    xs = [np.array([1.0, -0.5, 2.0], F), np.array([-1.0, -0.5, 0.2], F), np.array([0.3, 0.1, 0.2], F)]
    _check(make_sum_branch(jnp), make_sum_branch(jjnp), [(x,) for x in xs])


def test_while_loop_on_values():
    # 1.0 and 4.0 take different trip counts (3 and 1), then back to 1.0.
    _check(make_while(jnp), make_while(jjnp), [(F(1.0),), (F(4.0),), (F(2.0),), (F(1.0),)])


def test_int_as_loop_count():
    x = np.array([0.5, -1.0], F)
    _check(make_int_loop(jnp), make_int_loop(jjnp),
           [(x, np.int32(2)), (x, np.int32(0)), (x, np.int32(3)), (x, np.int32(2))])


def test_boolean_mask_indexing():
    xs = [np.array([[1.0, -2.0, 3.0], [-1.0, 5.0, 0.5]], F), np.array([[-1.0, -2.0, 3.0], [1.0, -5.0, -0.5]], F),
          -np.ones((2, 3), F), np.array([[1.0, -2.0, 3.0], [-1.0, 5.0, 0.5]], F)]
    _check(make_mask(jnp), make_mask(jjnp), [(x,) for x in xs])


@pytest.mark.parametrize("kind", ["numpy", "list", "tracer"])
def test_integer_array_indexing(kind):
    x = np.arange(12, dtype=F).reshape(4, 3) / 7.0
    idxs = [np.array([0, 2, 2, -1]), np.array([3, 1]), np.array([0, 2, 2, -1])]

    def ours(x, idx):
        if kind == "list":
            idx = [int(i) for i in np.asarray(idx)]
        return make_static_take(jnp)(x, idx)

    # "tracer": idx is an int array argument, so under bare grad it rides along as a concrete tracer.
    _check(ours, make_static_take(jjnp), [(x, i) for i in idxs], jit_reference=True)


def test_mask_and_index_mixed_with_slices():
    x = np.arange(24, dtype=F).reshape(2, 3, 4) / 10.0
    m, idx = np.array([True, False, True]), np.array([3, 0, 0])

    def f(np_):
        return lambda x: np_.sum(np_.sin(x[:, m, 1:]) ** 2) + np_.sum(np_.cos(x[:, :, idx][1]))

    _check(f(jnp), f(jjnp), [(x,)], jit_reference=True)


def test_many_runs_uses_onehot_gather():
    idx = (np.arange(40)[::-1] * 3) % 7     # > 16 contiguous runs

    def f(np_):
        return lambda x: np_.sum(x[idx] * np_.arange(40.0, dtype=np.float32)[:, None])

    _check(f(jnp), f(jjnp), [(np.arange(14, dtype=F).reshape(7, 2),)], jit_reference=True)


def test_traced_integer_index_under_jit():
    x = np.arange(5, dtype=F) ** 2
    idx = np.array([4, -1, 0, 2])
    got = irgrad.jit(lambda x, i: x[i])(x, idx)
    np.testing.assert_array_equal(np.asarray(got), x[idx])
    gd = irgrad.jit(irgrad.grad(lambda x, i: jnp.sum(x[i] ** 2)))(x, idx)
    np.testing.assert_allclose(np.asarray(gd), np.asarray(jax.jit(jax.grad(lambda x, i: jjnp.sum(x[i] ** 2)))(x, idx)))


@pytest.mark.parametrize("maker, marker, args, error", [
    (make_scalar_branch, "scalar-if", (F(1.0),), irgrad.errors.TracerBoolConversionError),
    (make_sum_branch, "sum-if", (np.ones(3, F),), irgrad.errors.TracerBoolConversionError),
    (make_while, "while", (F(1.0),), irgrad.errors.TracerBoolConversionError),
    (make_int_loop, "int", (np.ones(2, F), np.int32(2)), irgrad.errors.ConcretizationTypeError),
    (make_mask, "mask", (np.ones(3, F),), irgrad.errors.NonConcreteBooleanIndexError),
])
def test_jit_raises_naming_the_line(maker, marker, args, error):
    with pytest.raises(error) as info:
        irgrad.jit(maker(jnp))(*args)
    assert f"{HERE}:{_line(marker)}" in str(info.value)
    # grad under jit is staged too: same error.
    with pytest.raises(error) as info:
        irgrad.jit(irgrad.grad(lambda *a: jnp.sum(maker(jnp)(*a))))(*args)
    assert f"{HERE}:{_line(marker)}" in str(info.value)


def test_cache_never_reuses_a_stale_path():
    g, jg = irgrad.grad(make_scalar_branch(jnp)), jax.grad(make_scalar_branch(jjnp))
    for v in [1.0, 4.0, 1.0, 4.0, 2.0, 6.0, 1.0, 4.0]:     # same values alternate paths repeatedly
        np.testing.assert_allclose(float(g(F(v))), float(jg(F(v))), rtol=2e-5)


def test_unchanged_path_does_not_recompile():
    g = irgrad.grad(make_sum_branch(jnp))
    jg = jax.grad(make_sum_branch(jjnp))
    g(np.array([1.0, 2.0, 3.0], F))                     # first call on this path compiles
    before = stats.snapshot()
    for v in [0.5, 1.5, 2.5, 3.5]:                      # new values, same branch
        x = np.array([v, -0.1, 0.3], F)
        np.testing.assert_allclose(np.asarray(g(x)), np.asarray(jg(x)), rtol=2e-5)
    x = np.array([0.5, -0.1, 0.3], F)
    g(x), g(x)                                          # a repeated value: no retrace either
    after = stats.snapshot()
    assert after["iree_compiles"] == before["iree_compiles"]
    assert after["calls"] - before["calls"] == 6
    assert after["traces"] - before["traces"] <= 2 * 4  # retraced only for new values
