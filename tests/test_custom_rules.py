"""custom_vjp / custom_jvp, lax.stop_gradient and the strong-zero switch, against JAX.

The rules are called by the passes (the IR keeps a call of the primal carrying them),
so each test runs the rule through a different composition: grad, grad of grad, jit,
vmap (the batching pass batches the primal and the rules), jvp, hessian. A test's
compositions are traced into one irgrad.jit (and one jax.jit for the reference), so each
test compiles once; the tests with one composition run it bare (outside jit)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp
from irgrad import lax

rng = np.random.RandomState(7)
X = rng.uniform(-1.5, 1.5, (3, 4)).astype(np.float32)
W = rng.uniform(-1, 1, 4).astype(np.float32)


def close(got, want, tol=1e-5):
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=tol, atol=tol)


def make(lib, np_):
    """The same custom functions written for JAX (lib=jax) and for irgrad."""
    @lib.custom_vjp
    def clip_gradient(lo, hi, x):
        return x

    def clip_fwd(lo, hi, x):
        return x, (lo, hi)

    def clip_bwd(res, g):
        lo, hi = res
        return None, None, np_.clip(g, lo, hi)

    clip_gradient.defvjp(clip_fwd, clip_bwd)

    # a custom_vjp with residuals, a pytree argument and nondiff_argnums (a Python function)
    def apply(fn, p, x):
        return fn(p["w"] * x) + p["b"]

    def apply_fwd(fn, p, x):
        return fn(p["w"] * x) + p["b"], (p, x)

    def apply_bwd(fn, res, g):
        p, x = res
        # deliberately not the true derivative: 2x the true one for w, 0 for b
        return {"w": 2 * g * x, "b": np_.zeros_like(p["b"])}, g * p["w"]

    apply = lib.custom_vjp(apply, nondiff_argnums=(0,))
    apply.defvjp(apply_fwd, apply_bwd)

    @lib.custom_jvp
    def soft(x, y):
        return np_.sin(x) * y

    @soft.defjvp
    def soft_jvp(primals, tangents):
        x, y = primals
        tx, ty = tangents
        # deliberately 2x the true derivative in x
        return soft(x, y), 2 * np_.cos(x) * tx * y + np_.sin(x) * ty

    @lib.custom_jvp
    def safe_log1pexp(x):
        return np_.log1p(np_.exp(x))
    safe_log1pexp.defjvps(lambda t, ans, x: t / (1 + np_.exp(-x)))
    return clip_gradient, apply, soft, safe_log1pexp


MINE, THEIRS = make(irgrad, inp), make(jax, jnp)


def both(build, *args, fs=(MINE, THEIRS), bare=False):
    """build(lib, numpy, custom functions, *args) for irgrad and JAX, each traced into one jit
    (one compile for all the compositions a test checks). bare: irgrad's transformations run
    without the jit (a test with one composition compiles once either way)."""
    mine = build(irgrad, inp, fs[0], *args) if bare else irgrad.jit(lambda *a: build(irgrad, inp, fs[0], *a))(*args)
    return mine, jax.jit(lambda *a: build(jax, jnp, fs[1], *a))(*args)


def test_custom_vjp_grad_jit_and_grad_of_grad():
    def build(lib, np_, fs, w, x):
        clip = fs[0]
        f = lambda w, x: np_.sum(clip(-0.5, 0.5, np_.tanh(x * w * 3.0)) ** 3)
        return lib.grad(f)(w, x), lib.jit(lib.grad(f, argnums=(0, 1)))(w, x), \
            lib.grad(lambda w: np_.sum(lib.grad(f)(w, x)))(w)
    mine, theirs = both(build, W, X[0])
    close(mine, theirs)
    assert np.abs(np.asarray(mine[0])).max() > 0          # the rule, not a zero


def test_custom_vjp_with_nondiff_argnums_and_pytree_args():
    def build(lib, np_, fs, p, x):
        apply = fs[1]
        f = lambda p, x: np_.sum(apply(np_.tanh, p, x) ** 2)
        return f(p, x), lib.grad(f, argnums=(0, 1))(p, x)
    mine, theirs = both(build, {"w": W, "b": np.float32(0.3)}, X[0])
    close(mine, theirs)
    # the rule differs from the true derivative, so this proves it was used
    true = jax.jit(jax.grad(lambda p, x: jnp.sum((jnp.tanh(p["w"] * x) + p["b"]) ** 2)))(
        {"w": W, "b": np.float32(0.3)}, X[0])
    assert not np.allclose(np.asarray(mine[1][0]["w"]), true["w"])


def test_custom_vjp_inside_vmap_and_grad_of_vmap():
    def build(lib, np_, fs, w, xs):
        clip = fs[0]
        g = lambda w, x: np_.sum(clip(-0.5, 0.5, x * w * 3.0) ** 2)
        return (lib.vmap(g, in_axes=(None, 0))(w, xs), lib.vmap(lib.grad(g), in_axes=(None, 0))(w, xs),
                lib.grad(lambda w: np_.sum(lib.vmap(g, in_axes=(None, 0))(w, xs)))(w))
    close(*both(build, W, X))


def test_custom_vjp_has_no_forward_mode():
    with pytest.raises(Exception, match="can't apply forward-mode autodiff"):
        irgrad.jvp(lambda x: MINE[0](-1.0, 1.0, x) * 2.0, (W,), (W,))


def test_custom_vjp_hessian_through_the_rule():
    def build(lib, np_, fs, w):
        clip = fs[0]
        return lib.hessian(lambda x: np_.sum(clip(-1.0, 1.0, x) ** 3))(w)
    close(*both(build, W, bare=True))


def test_custom_jvp_jvp_grad_vmap_hessian():
    def build(lib, np_, fs, w, x0, x1, xs):
        soft = fs[2]
        f = lambda w, x: np_.sum(soft(x, w) ** 2)
        return (lib.jvp(lambda x: soft(x, w), (x0,), (x1,)), lib.grad(f)(w, x0),
                lib.grad(f, argnums=1)(w, x0), lib.vmap(lib.grad(f, argnums=1), in_axes=(None, 0))(w, xs),
                lib.grad(lambda w: np_.sum(lib.vmap(f, in_axes=(None, 0))(w, xs)))(w),
                lib.hessian(f, argnums=1)(w, x0))
    mine, theirs = both(build, W, X[0], X[1], X)
    close(mine, theirs, tol=2e-5)
    true = jax.jit(jax.grad(lambda w, x: jnp.sum((jnp.sin(x) * w) ** 2), argnums=1))(W, X[0])
    assert not np.allclose(np.asarray(mine[2]), true)     # the (deliberately wrong) rule was used


def test_custom_jvp_defjvps_is_stable_where_the_primal_overflows():
    def build(lib, np_, fs, x):
        return lib.grad(lambda x: np_.sum(fs[3](x)))(x)
    mine, theirs = both(build, np.array([-100.0, 0.0, 50.0, 100.0], np.float32), bare=True)
    close(mine, theirs)
    assert np.isfinite(np.asarray(mine)).all()


def test_custom_rules_outside_transformations_run_the_primal():
    np.testing.assert_allclose(np.asarray(MINE[2](X[0], W)), np.sin(X[0]) * W, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(MINE[0](-0.1, 0.1, X[0])), X[0])


def test_custom_vjp_errors():
    f = irgrad.custom_vjp(lambda x: x * 2)
    with pytest.raises(AttributeError, match="No VJP defined"):
        f(1.0)
    f.defvjp(lambda x: x * 2, lambda res, g: (g,))        # fwd does not return a pair
    with pytest.raises(TypeError, match="must produce a pair"):
        irgrad.grad(f)(1.0)
    h = irgrad.custom_vjp(lambda x, y: x * y)
    h.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g,))   # one cotangent for two args
    with pytest.raises(TypeError, match="number of arguments"):
        irgrad.grad(h)(1.0, 2.0)


def test_stop_gradient_in_every_transformation():
    def build(lib, np_, fs, x0, x1, xs, p):
        sg = lib.lax.stop_gradient
        f = lambda x: np_.sum(x * sg(x) ** 2 + np_.sin(x))
        return (lib.grad(f)(x0), lib.jvp(f, (x0,), (x1,)), lib.vmap(lib.grad(f))(xs), lib.hessian(f)(x0),
                lib.grad(lambda p: sg(p["a"]) * p["b"])(p))
    close(*both(build, X[0], X[1], X, {"a": 2.0, "b": 3.0}))


def test_stop_gradient_is_a_marker_in_the_ir_and_gone_before_iree():
    from irgrad.frontend.core import ShapedArray, trace_function
    traced = trace_function(lambda x: [lax.stop_gradient(x) * x], [ShapedArray((3,), np.dtype(np.float32))])
    assert "call @irgrad.stop_gradient.tensor_3xf32_" in traced.text()
    text = irgrad.jit(lambda x: lax.stop_gradient(x) * x).lower(X[0][:3]).as_text()
    assert "stop_gradient" not in text


def test_strong_zero_switch():
    x = np.array([0.0, 4.0, -1.0], np.float32)
    f = lambda x: inp.sum(inp.where(x > 0, inp.sqrt(x), 0.0))
    want = jax.grad(lambda x: jnp.sum(jnp.where(x > 0, jnp.sqrt(x), 0.0)))(x)
    np.testing.assert_array_equal(np.asarray(irgrad.grad(f)(x)), np.asarray(want))     # NaN, as JAX
    assert np.isnan(np.asarray(want)[0])
    irgrad.config.update("irgrad_strong_zero", True)
    try:
        np.testing.assert_allclose(np.asarray(irgrad.grad(f)(x)), [0.0, 0.25, 0.0])
        np.testing.assert_allclose(np.asarray(irgrad.jit(irgrad.grad(f))(x)), [0.0, 0.25, 0.0])
        np.testing.assert_allclose(float(irgrad.jvp(f, (x,), (np.ones(3, np.float32),))[1]), 0.25)
        h = irgrad.hessian(lambda x: inp.sum(inp.where(x > 0, inp.log(x), x)))(x)
        np.testing.assert_allclose(np.asarray(h), np.diag([0.0, -1 / 16, 0.0]), atol=1e-7)
    finally:
        irgrad.config.update("irgrad_strong_zero", False)
    assert np.isnan(np.asarray(irgrad.grad(f)(x))[0])       # off again: the cache keys on the switch


def make_summing(lib, np_):
    """The issue's rule: every argument's cotangent is the sum of the output's."""
    @lib.custom_vjp
    def f(x):
        return x
    f.defvjp(lambda x: (x, None), lambda _, g: (g * 0 + np_.sum(g),))
    return f


SUMMING = make_summing(irgrad, inp), make_summing(jax, jnp)


def test_custom_vjp_with_a_broadcast_scalar_cotangent():
    """grad of sum(f(x)) seeds f's output with a broadcast 1.0, which the rule sums."""
    x = np.ones(4, np.float32)
    def build(lib, np_, f, x, xs):
        loss = lambda x: np_.sum(f(x))
        return (lib.grad(loss)(x), lib.jit(lib.grad(loss))(x), lib.vjp(f, x)[1](np_.ones(4))[0],
                lib.vmap(lib.grad(loss))(xs),
                lib.grad(lambda x: np_.sum(lib.grad(loss)(x) * x))(x))
    mine, theirs = both(build, x, np.stack([x, 2 * x]), fs=SUMMING)
    close(mine, theirs)
    np.testing.assert_allclose(np.asarray(mine[0]), [4.0] * 4)


def test_custom_vjp_tuple_output_with_a_broadcast_cotangent():
    """Two outputs: the first's cotangent is a broadcast scalar (from a sum), the second's
    a scalar; under grad, jit, vmap and grad of grad."""
    def build(lib, np_, _, x, xs):
        @lib.custom_vjp
        def f(x):
            return x * 2.0, np_.sum(x)
        f.defvjp(lambda x: (f(x), x), lambda x, g: (np_.sum(g[0]) * x + g[1] * 0.5,))
        loss = lambda x: np_.sum(f(x)[0]) + 3.0 * f(x)[1]
        return (lib.grad(loss)(x), lib.jit(lib.grad(loss))(x), lib.vmap(lib.grad(loss))(xs),
                lib.grad(lambda x: np_.sum(lib.grad(loss)(x) ** 2))(x))
    x = np.float32([0.5, -1.0, 2.0])
    close(*both(build, x, np.stack([x, -x])))


def test_sum_of_a_gradient_that_is_a_broadcast_constant():
    """No custom rule: grad(sum)(v) is a broadcast constant, and summing it must give n."""
    def build(lib, np_, _, x):
        return lib.grad(lambda v: np_.sum(v) * np_.sum(lib.grad(np_.sum)(v)))(x)
    close(*both(build, np.ones(4, np.float32)))


def make_self_calling(lib, np_):
    """Rules that call the function they belong to, as JAX's examples do. The rules are
    deliberately not the true derivatives, so each result shows which one was used."""
    @lib.custom_vjp
    def h(x):
        return np_.cos(2 * x) / 2.0
    h.defvjp(lambda x: (h(x), x), lambda x, g: (g * 3,))

    @lib.custom_vjp
    def k(x):                       # the residual is k(x) too
        return np_.cos(2 * x) / 2.0
    k.defvjp(lambda x: (k(x), k(x)), lambda r, g: (g * 3 * r,))

    @lib.custom_vjp
    def plain(x):                   # fwd computes the value without calling plain
        return np_.cos(2 * x) / 2.0
    plain.defvjp(lambda x: (np_.cos(2 * x) / 2.0, x), lambda x, g: (g * 3,))

    @lib.custom_jvp
    def j(x):
        return np_.sin(x) * x
    j.defjvp(lambda p, t: (j(p[0]), 3 * j(p[0]) * t[0]))
    return h, k, plain, j


SELF_CALLING = make_self_calling(irgrad, inp), make_self_calling(jax, jnp)


SELF_CALLING_CASES = ["value_of_value_and_grad", "residual", "plain_fwd", "grad_grad", "vjp_value",
                      "jit", "vmap", "vmap_grad", "jvp_value", "jvp_grad_grad", "jvp_vmap"]


@functools.cache
def self_calling_results():
    """Every case below, traced into one irgrad.jit and one jax.jit: {case: result}."""
    def build(lib, np_, fs, one, xs, x8):
        h, k, plain, j = fs
        vg = lambda f: lambda x: lib.value_and_grad(f)(x)
        cases = {
            "value_of_value_and_grad": lambda: lib.grad(lambda x: vg(h)(x)[0])(one),
            "residual": lambda: lib.grad(lambda x: vg(k)(x)[1])(one),
            "plain_fwd": lambda: lib.grad(lambda x: vg(plain)(x)[0])(one),
            "grad_grad": lambda: (lib.grad(lib.grad(h))(one), lib.grad(lib.grad(k))(one)),
            "vjp_value": lambda: lib.grad(lambda x: lib.vjp(k, x)[0])(one),
            "jit": lambda: lib.jit(lib.grad(lambda x: vg(h)(x)[0] * vg(k)(x)[1]))(one),
            "vmap": lambda: lib.vmap(lib.grad(lambda x: vg(h)(x)[0] + vg(k)(x)[1]))(xs),
            "vmap_grad": lambda: lib.grad(lambda x: np_.sum(lib.vmap(lambda x: vg(h)(x)[0] * vg(k)(x)[1])(x)))(xs),
            "jvp_value": lambda: lib.grad(lambda x: lib.jvp(j, (x,), (1.0,))[0])(x8),
            "jvp_grad_grad": lambda: lib.grad(lib.grad(j))(x8),
            "jvp_vmap": lambda: lib.vmap(lib.grad(lambda x: lib.jvp(j, (x,), (2.0,))[1]))(xs),
        }
        assert list(cases) == SELF_CALLING_CASES
        return {case: run() for case, run in cases.items()}
    return both(build, 1.0, np.float32([0.3, 1.0, -0.7]), 0.8, fs=SELF_CALLING)


def test_issue_examples_under_bare_grad():
    """The two examples of the custom_vjp issue exactly as written there: top-level grad,
    no jit (the compositions above run inside one jit each)."""
    summing, h = SUMMING[0], SELF_CALLING[0][0]
    got = irgrad.grad(lambda x: inp.sum(summing(x)))(np.ones(4, np.float32))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(jax.grad(lambda x: jnp.sum(SUMMING[1](x)))(
        np.ones(4, np.float32))))                                    # [4 4 4 4]; was [1 1 1 1]
    got = irgrad.grad(lambda x: irgrad.value_and_grad(h)(x)[0])(1.0)
    np.testing.assert_allclose(float(got), float(jax.grad(lambda x: jax.value_and_grad(SELF_CALLING[1][0])(x)[0])(1.0)),
                               rtol=1e-6)                            # 3.0 (the rule); was -0.909


@pytest.mark.parametrize("case", SELF_CALLING_CASES)
def test_rule_calling_its_own_function_keeps_the_rule(case):
    """grad of the value that value_and_grad(h) returns: JAX differentiates the fwd rule,
    whose h(x) is h with its rule (3.0, where the true derivative is -sin(2))."""
    mine, theirs = self_calling_results()
    close(mine[case], theirs[case])


def test_rule_calling_its_own_function_with_captured_values():
    """The function and its rules close over a value traced by jit: a self call passes
    every rule's captures (found by tracing the rules again)."""
    def build(lib, np_, _):
        def outer(s, x):
            @lib.custom_vjp
            def h(x):
                return np_.cos(2 * x) / 2.0 * s
            h.defvjp(lambda x: (h(x), h(x) * s), lambda r, g: (g * 3 * r,))
            return lib.grad(lambda x: lib.value_and_grad(h)(x)[0] + lib.value_and_grad(h)(x)[1])(x)
        return lib.jit(outer)(np.float32(1.5), np.float32(1.0))
    close(build(irgrad, inp, None), build(jax, jnp, None))


def test_custom_jvp_with_a_broadcast_cotangent():
    """The custom_jvp analogue: a rule whose tangent sums its input's tangent, transposed
    under grad (a broadcast cotangent summed), under jit, vmap, jvp and hessian."""
    def build(lib, np_, _, x, xs):
        @lib.custom_jvp
        def f(x):
            return x * 1.0
        f.defjvp(lambda p, t: (f(p[0]), t[0] * 0 + np_.sum(t[0])))
        loss = lambda x: np_.sum(f(x))
        return (lib.grad(loss)(x), lib.jit(lib.grad(loss))(x), lib.vmap(lib.grad(loss))(xs),
                lib.jvp(f, (x,), (x,))[1], lib.hessian(lambda x: np_.sum(f(x) ** 2))(x))
    x = np.ones(4, np.float32)
    close(*both(build, x, np.stack([x, 2 * x])))


@pytest.mark.parametrize("kind", ["custom_vjp", "custom_jvp"])
def test_closing_over_a_differentiated_value_raises(kind):
    """JAX raises UnexpectedTracerError; the passes give captured values no derivative, so
    irgrad used to return 0 for custom_vjp (and fail with a KeyError for custom_jvp)."""
    def outer(s):
        h = getattr(irgrad, kind)(lambda x: inp.sin(x) * s)
        if kind == "custom_vjp":
            h.defvjp(lambda x: (h(x), x), lambda r, g: (g * inp.cos(r) * s,))
        else:
            h.defjvp(lambda p, t: (h(p[0]), inp.cos(p[0]) * s * t[0]))
        return h(2.0)
    with pytest.raises(irgrad.errors.UnexpectedTracerError, match="closes over"):
        irgrad.grad(outer)(1.5)
