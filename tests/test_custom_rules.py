"""custom_vjp / custom_jvp, lax.stop_gradient and the strong-zero switch, against JAX.

The rules are called by the passes (the IR keeps a call of the primal carrying them),
so each test runs the rule through a different composition: grad, grad of grad, jit,
vmap (the batching pass batches the primal and the rules), jvp, hessian."""

from __future__ import annotations

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


def both(build):
    """build(lib, numpy, custom functions) for irgrad and JAX."""
    return build(irgrad, inp, MINE), build(jax, jnp, THEIRS)


def test_custom_vjp_grad_jit_and_grad_of_grad():
    def build(lib, np_, fs):
        clip = fs[0]
        f = lambda w, x: np_.sum(clip(-0.5, 0.5, np_.tanh(x * w * 3.0)) ** 3)
        return lib.grad(f)(W, X[0]), lib.jit(lib.grad(f, argnums=(0, 1)))(W, X[0]), \
            lib.grad(lambda w: np_.sum(lib.grad(f)(w, X[0])))(W)
    mine, theirs = both(build)
    close(mine, theirs)
    assert np.abs(np.asarray(mine[0])).max() > 0          # the rule, not a zero


def test_custom_vjp_with_nondiff_argnums_and_pytree_args():
    def build(lib, np_, fs):
        apply = fs[1]
        p = {"w": W, "b": np.float32(0.3)}
        f = lambda p, x: np_.sum(apply(np_.tanh, p, x) ** 2)
        return f(p, X[0]), lib.grad(f, argnums=(0, 1))(p, X[0])
    mine, theirs = both(build)
    close(mine, theirs)
    # the rule differs from the true derivative, so this proves it was used
    true = jax.grad(lambda p, x: jnp.sum((jnp.tanh(p["w"] * x) + p["b"]) ** 2))({"w": W, "b": np.float32(0.3)}, X[0])
    assert not np.allclose(np.asarray(mine[1][0]["w"]), true["w"])


def test_custom_vjp_inside_vmap_and_grad_of_vmap():
    def build(lib, np_, fs):
        clip = fs[0]
        g = lambda w, x: np_.sum(clip(-0.5, 0.5, x * w * 3.0) ** 2)
        return (lib.vmap(g, in_axes=(None, 0))(W, X), lib.vmap(lib.grad(g), in_axes=(None, 0))(W, X),
                lib.grad(lambda w: np_.sum(lib.vmap(g, in_axes=(None, 0))(w, X)))(W))
    close(*both(build))


def test_custom_vjp_has_no_forward_mode():
    with pytest.raises(Exception, match="can't apply forward-mode autodiff"):
        irgrad.jvp(lambda x: MINE[0](-1.0, 1.0, x) * 2.0, (W,), (W,))


def test_custom_vjp_hessian_through_the_rule():
    def build(lib, np_, fs):
        clip = fs[0]
        return lib.hessian(lambda x: np_.sum(clip(-1.0, 1.0, x) ** 3))(W)
    close(*both(build))


def test_custom_jvp_jvp_grad_vmap_hessian():
    def build(lib, np_, fs):
        soft = fs[2]
        f = lambda w, x: np_.sum(soft(x, w) ** 2)
        return (lib.jvp(lambda x: soft(x, W), (X[0],), (X[1],)), lib.grad(f)(W, X[0]),
                lib.grad(f, argnums=1)(W, X[0]), lib.vmap(lib.grad(f, argnums=1), in_axes=(None, 0))(W, X),
                lib.grad(lambda w: np_.sum(lib.vmap(f, in_axes=(None, 0))(w, X)))(W),
                lib.hessian(f, argnums=1)(W, X[0]))
    mine, theirs = both(build)
    close(mine, theirs, tol=2e-5)
    true = jax.grad(lambda w, x: jnp.sum((jnp.sin(x) * w) ** 2), argnums=1)(W, X[0])
    assert not np.allclose(np.asarray(mine[2]), true)     # the (deliberately wrong) rule was used


def test_custom_jvp_defjvps_is_stable_where_the_primal_overflows():
    def build(lib, np_, fs):
        return lib.grad(lambda x: np_.sum(fs[3](x)))(np.array([-100.0, 0.0, 50.0, 100.0], np.float32))
    mine, theirs = both(build)
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
    def build(lib, np_, fs):
        sg = lib.lax.stop_gradient
        f = lambda x: np_.sum(x * sg(x) ** 2 + np_.sin(x))
        return (lib.grad(f)(X[0]), lib.jvp(f, (X[0],), (X[1],)), lib.vmap(lib.grad(f))(X), lib.hessian(f)(X[0]),
                lib.grad(lambda p: sg(p["a"]) * p["b"])({"a": 2.0, "b": 3.0}))
    close(*both(build))


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
