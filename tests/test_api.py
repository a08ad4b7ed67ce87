"""grad / value_and_grad / jit against JAX: argnums, has_aux, kwargs, higher order,
nesting, closures, jit's lowering text, trace/compile caching, captured constants,
and Python control flow under bare grad."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from irgrad.frontend import api

import irgrad
import irgrad.numpy as inp

F32 = np.float32


def close(got, want, rtol=2e-5, atol=1e-6):
    """Same pytree structure and values (within float32 tolerance) as JAX's result."""
    got_leaves, got_tree = irgrad.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert str(got_tree).replace("PyTreeDef", "") == str(want_tree).replace("PyTreeDef", ""), (got, want)
    for g, w in zip(got_leaves, want_leaves):
        assert isinstance(g, irgrad.Array), type(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (g, w)
        assert g.weak_type == w.weak_type, (g, w)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


# -------------------------------------------------------------- argnums, aux, kwargs
# Here and below JAX's references run under jax.jit where the code allows (one XLA compile, not one per op).

def poly(m):
    def f(x, y, z):
        return m.sum(x ** 3 * y) + 2.0 * m.sum(y * z) - z[0]
    return f


X = np.array([0.5, -1.5], F32)
Y = np.array([2.0, 0.25], F32)
Z = np.array([1.0, 3.0], F32)


ARGNUMS = [0, 1, 2, -1, -3, (0, 2), (2, 0), (1,), (-1, 0, 1)]


@pytest.mark.parametrize("argnums", [0, -1, (2, 0)])
def test_argnums_match_jax(argnums):
    got = irgrad.grad(poly(inp), argnums)(X, Y, Z)
    close(got, jax.jit(jax.grad(poly(jnp), argnums))(X, Y, Z))


def test_every_argnums_form_under_jit():
    """Int, negative, tuple (any order) argnums, grad and value_and_grad, all in one compiled function."""
    def all_grads(m, lib):
        return lambda x, y, z: {name: [getattr(lib, name)(poly(m), a)(x, y, z) for a in ARGNUMS]
                                for name in ("grad", "value_and_grad")}
    got, want = irgrad.jit(all_grads(inp, irgrad))(X, Y, Z), jax.jit(all_grads(jnp, jax))(X, Y, Z)
    for name in ("grad", "value_and_grad"):
        close(got[name], want[name])


def test_value_and_grad_argnums():
    close(irgrad.value_and_grad(poly(inp), (0, 1))(X, Y, Z), jax.jit(jax.value_and_grad(poly(jnp), (0, 1)))(X, Y, Z))


def with_aux(m):
    def f(x, y):
        loss = m.sum(m.tanh(x) * y)
        return loss, {"pred": m.tanh(x), "n": [loss * 2.0, x[0] * y[0]]}
    return f


def test_has_aux_grad_and_value_and_grad():
    close(irgrad.grad(with_aux(inp), has_aux=True)(X, Y), jax.jit(jax.grad(with_aux(jnp), has_aux=True))(X, Y))
    got = irgrad.value_and_grad(with_aux(inp), argnums=(0, 1), has_aux=True)(X, Y)
    close(got, jax.jit(jax.value_and_grad(with_aux(jnp), argnums=(0, 1), has_aux=True))(X, Y))


def scaled(m):
    def f(x, *, scale, offset=0.0):
        return m.sum((x - offset) ** 2) * scale
    return f


def test_kwargs_pass_through_not_differentiated():
    got = irgrad.grad(scaled(inp))(X, scale=3.0, offset=np.float32(0.5))
    close(got, jax.jit(jax.grad(scaled(jnp)))(X, scale=3.0, offset=np.float32(0.5)))
    got = irgrad.value_and_grad(scaled(inp))(X, scale=np.array(2.0, F32))
    close(got, jax.jit(jax.value_and_grad(scaled(jnp)))(X, scale=np.array(2.0, F32)))


def test_python_scalar_arguments_are_weak():
    got = irgrad.grad(lambda x, y: x * y + x ** 2, (0, 1))(3.0, 2.0)
    close(got, jax.jit(jax.grad(lambda x, y: x * y + x ** 2, (0, 1)))(3.0, 2.0))


def test_non_array_argument_not_differentiated_stays_python():
    """As in JAX, a string or int argument that is not differentiated is a Python value."""
    def f(x, mode, n):
        assert isinstance(mode, str) and isinstance(n, int)
        return x ** n if mode == "pow" else -x
    assert float(irgrad.grad(f)(2.0, "pow", 3)) == 12.0
    assert float(irgrad.grad(f)(2.0, "neg", 3)) == -1.0
    assert float(irgrad.grad(f)(-2.0, "pow", 3)) == float(jax.grad(f)(-2.0, "pow", 3))


# ------------------------------------------------------------------- higher order

HIGHER = {
    "poly": (lambda m: lambda x: x ** 5 - 3.0 * x ** 4 + 2.0 * x, 1.3),
    "tanh": (lambda m: m.tanh, 0.5),
    "sin_exp": (lambda m: lambda x: m.sin(x) * m.exp(x), 0.3),
}


def derivatives(grad, f, n=4):
    """f', f'', ..., f^(n) by nesting grad."""
    out = []
    for _ in range(n):
        f = grad(f)
        out.append(f)
    return out


def test_fourth_order_top_level():
    for g, h in zip(derivatives(irgrad.grad, inp.tanh), derivatives(jax.grad, jnp.tanh)):
        close(g(0.5), jax.jit(h)(0.5), rtol=5e-5, atol=1e-5)


@functools.cache
def fourth_order_under_jit():
    """Every HIGHER function's first four derivatives, in one irgrad.jit and one jax.jit."""
    def all_derivatives(lib, m):
        return lambda xs: {name: [d(xs[name]) for d in derivatives(lib.grad, make(m))]
                           for name, (make, _) in HIGHER.items()}
    x0 = {name: x for name, (_, x) in HIGHER.items()}
    return irgrad.jit(all_derivatives(irgrad, inp))(x0), jax.jit(all_derivatives(jax, jnp))(x0)


@pytest.mark.parametrize("name", sorted(HIGHER))
def test_fourth_order_under_jit(name):
    got, want = fourth_order_under_jit()
    close(got[name], want[name], rtol=5e-5, atol=1e-4)


def mixed(m):
    return lambda x, y: x ** 3 * y ** 2 + m.sin(x) * m.exp(y)


def test_mixed_argnums_across_levels():
    got = irgrad.grad(lambda x, y: irgrad.grad(mixed(inp), 1)(x, y), 0)(0.5, 0.7)
    want = jax.jit(jax.grad(lambda x, y: jax.grad(mixed(jnp), 1)(x, y), 0))(0.5, 0.7)
    close(got, want, rtol=1e-5)
    got = irgrad.grad(irgrad.grad(mixed(inp), 0), 1)(0.5, 0.7)
    close(got, jax.jit(jax.grad(jax.grad(mixed(jnp), 0), 1))(0.5, 0.7), rtol=1e-5)


def test_closure_over_outer_tracer():
    got = irgrad.grad(lambda x: irgrad.grad(lambda y: x * y ** 2)(x))(1.5)
    close(got, jax.jit(jax.grad(lambda x: jax.grad(lambda y: x * y ** 2)(x)))(1.5))
    got = irgrad.grad(lambda x: irgrad.grad(lambda y: inp.sin(x * y))(2.0 * x))(0.4)
    close(got, jax.jit(jax.grad(lambda x: jax.grad(lambda y: jnp.sin(x * y))(2.0 * x)))(0.4))


# --------------------------------------------------------------- jit with grad

def sinx(m):
    return lambda x: m.sum(m.sin(x) * x)


def test_jit_inside_grad_and_grad_inside_jit():
    close(irgrad.grad(irgrad.jit(sinx(inp)))(X), jax.grad(jax.jit(sinx(jnp)))(X))
    close(irgrad.jit(irgrad.grad(sinx(inp)))(X), jax.jit(jax.grad(sinx(jnp)))(X))
    close(irgrad.jit(irgrad.value_and_grad(sinx(inp)))(X), jax.jit(jax.value_and_grad(sinx(jnp)))(X))


def power_sum(x, n):
    return (x ** n).sum()


def test_jit_of_grad_with_static_argnums():
    f = irgrad.jit(irgrad.grad(power_sum), static_argnums=1)
    g = jax.jit(jax.grad(power_sum), static_argnums=1)
    for n in (2, 3):
        close(f(X, n), g(X, n))


def layer(params, x, *, scale=1.0):
    h = params["w"] * x + params["b"]
    return {"out": [h * scale, h.sum()], "aux": (x.mean(),)}


def test_jit_kwargs_and_pytrees():
    params = {"w": Y, "b": np.array(0.5, F32)}
    close(irgrad.jit(layer)(params, X, scale=2.0), jax.jit(layer)(params, X, scale=2.0))
    f = irgrad.jit(layer, static_argnames="scale")
    close(f(params, X, scale=3.0), jax.jit(layer, static_argnames="scale")(params, X, scale=3.0))


def test_jit_output_python_scalars_and_none():
    got = irgrad.jit(lambda x: (x * 2, None, 3.0))(X)
    want = jax.jit(lambda x: (x * 2, None, 3.0))(X)
    close(got, want)


# ------------------------------------------------------------- Python control flow

def piecewise(x):
    if x > 0:
        return x ** 2
    return -3.0 * x


def test_bare_grad_python_control_flow_and_value_cache():
    """Under bare grad values are concrete, so `if x > 0` works as in JAX; a trace that
    branched is reused only for the same input values."""
    g = irgrad.grad(piecewise)
    for x in (2.0, -2.0, 3.0, -1.0, 2.0):
        assert float(g(x)) == float(jax.grad(piecewise)(x)), x
    before = api.stats.traces
    g(2.0)
    assert api.stats.traces == before          # same value: cached


def test_bare_grad_int_and_item_work_float_is_refused():
    close(irgrad.grad(lambda x: x * int(x))(2.5), jax.grad(lambda x: x * int(x))(2.5))
    with pytest.raises(irgrad.ConcretizationTypeError):
        irgrad.grad(lambda x: x * float(x))(2.0)
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.grad(lambda x: x * float(x))(2.0)


def test_jit_inside_grad_is_abstract():
    """jit traces abstractly even under grad: branching on its argument fails, as in JAX."""
    f = irgrad.jit(piecewise)
    with pytest.raises(irgrad.ConcretizationTypeError):
        irgrad.grad(f)(2.0)


# ------------------------------------------------------------------------ lowering

def test_lower_as_text_is_the_compiled_module():
    f = irgrad.jit(lambda a, b: inp.tanh(a @ b).sum())
    a, b = np.ones((2, 3), F32), np.ones((3, 4), F32)
    text = f.lower(a, b).as_text()
    assert "func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3x4xf32>) -> tensor<f32>" in text
    assert "linalg.matmul" in text or "linalg.generic" in text
    assert "math.tanh" in text
    assert "func.call" not in text            # everything inlined
    want = jax.jit(lambda a, b: jnp.tanh(a @ b).sum())(jnp.ones((2, 3)), jnp.ones((3, 4)))
    np.testing.assert_allclose(float(f(a, b)), float(want), rtol=1e-6)
    np.testing.assert_allclose(float(f.lower(a, b).compile()(a, b)), float(want), rtol=1e-6)


def test_lower_of_grad_has_adjoint_ops():
    text = irgrad.jit(irgrad.grad(lambda x: inp.sum(inp.exp(x)))).lower(X).as_text()
    assert "func.func @main(%arg0: tensor<2xf32>) -> tensor<2xf32>" in text
    assert "math.exp" in text and "linalg.generic" in text


# ---------------------------------------------------------------- caching counters

def counters():
    return api.stats.traces, api.stats.compiles, irgrad.runtime.compiler.stats["compiles"]


def test_same_signature_neither_traces_nor_compiles():
    f = irgrad.jit(lambda x, n: inp.sin(x) * n, static_argnums=1)
    f(np.ones(3, F32), 2)
    c0 = counters()
    out = f(np.full(3, 0.5, F32), 2)         # new values, same signature
    assert counters() == c0
    np.testing.assert_allclose(np.asarray(out), np.sin(0.5) * 2 * np.ones(3), rtol=1e-6)
    f(np.ones(4, F32), 2)                     # new shape
    c1 = counters()
    assert c1[0] == c0[0] + 1 and c1[1] == c0[1] + 1
    f(np.ones(4, np.int32), 2)                # new dtype
    assert counters()[0] == c1[0] + 1
    f(np.ones(4, F32), 3)                     # new static argument
    assert counters()[0] == c1[0] + 2
    f(np.ones(4, F32), 3)
    assert counters()[0] == c1[0] + 2


def test_weak_type_is_part_of_the_signature():
    f = irgrad.jit(lambda x: x * 2)
    assert f(1.0).weak_type and not f(np.float32(1.0)).weak_type


def test_fresh_grad_objects_do_not_retrace():
    def loss(W, b):
        return inp.sum(inp.tanh(W @ X + b) ** 2)
    W, b = np.eye(2, dtype=F32), np.array([0.1, -0.2], F32)
    g1 = irgrad.grad(loss, argnums=(0,))(W, b)
    c0 = counters()
    g2 = irgrad.grad(loss, argnums=(0,))(W, b)
    assert counters() == c0
    np.testing.assert_array_equal(np.asarray(g1[0]), np.asarray(g2[0]))
    close(g2, jax.jit(jax.grad(lambda W, b: jnp.sum(jnp.tanh(W @ X + b) ** 2), argnums=(0,)))(W, b))
    irgrad.grad(irgrad.grad(inp.tanh))(0.3)
    c1 = counters()
    irgrad.grad(irgrad.grad(inp.tanh))(0.7)   # nested fresh wrappers: same cache entry
    assert counters() == c1


# ------------------------------------------------------------------ captured constants

BIG = np.random.default_rng(0).standard_normal((1000, 10)).astype(F32)


def big_loss(m):
    return lambda w: m.sum(m.tanh(BIG @ w))


def test_large_closed_over_array_is_an_argument():
    w = np.linspace(-1, 1, 10).astype(F32)
    f = irgrad.jit(big_loss(inp))
    text = f.lower(w).as_text()
    assert re.search(r"func\.func @main\(%arg0: tensor<10xf32>, %arg1: tensor<1000x10xf32>\)", text)
    assert "dense<" not in text.replace("dense<0.000000e+00>", "").replace("dense<1.000000e+00>", "")
    assert len(text) < 5000
    np.testing.assert_allclose(float(f(w)), float(jax.jit(big_loss(jnp))(w)), rtol=1e-5)
    close(irgrad.grad(big_loss(inp))(w), jax.jit(jax.grad(big_loss(jnp)))(w), rtol=1e-4, atol=1e-4)
    text = irgrad.jit(irgrad.grad(big_loss(inp))).lower(w).as_text()
    assert re.search(r"func\.func @main\(%arg0: tensor<10xf32>, %arg1: tensor<1000x10xf32>\)", text)


def test_small_closed_over_array_is_a_constant():
    small = np.arange(4, dtype=F32)
    text = irgrad.jit(lambda x: x * small).lower(np.ones(4, F32)).as_text()
    assert "func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32>" in text
    assert "dense<[0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00]>" in text


# irgrad.numpy's names that jax.numpy lacks, on purpose (jnp.rsqrt: lax.rsqrt's only door in irgrad).
NUMPY_EXTRAS = {"rsqrt"}


def test_numpy_all_is_the_public_api():
    """Every name in irgrad.numpy.__all__ exists, is jax.numpy's (or a listed extra), and
    `from irgrad.numpy import *` brings no internal helper (concrete_value leaked once)."""
    names = set(inp.__all__)
    assert len(names) == len(inp.__all__), "duplicates in irgrad.numpy.__all__"
    assert [n for n in sorted(names) if not hasattr(inp, n)] == []
    assert [n for n in sorted(names) if n.startswith("_")] == []
    assert sorted(n for n in names - NUMPY_EXTRAS if not hasattr(jnp, n)) == []
    star: dict = {}
    exec("from irgrad.numpy import *", star)
    assert set(star) - {"__builtins__"} == names
