"""grad / value_and_grad over pytrees of parameters: gradients come back in the
structure the parameters went in, with JAX's values."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp

F32 = np.float32
Params = collections.namedtuple("Params", ["w", "b"])


class Linear:
    """A custom node registered with both irgrad and JAX; `name` is aux data."""

    def __init__(self, w, b, name="lin"):
        self.w, self.b, self.name = w, b, name

    def __repr__(self):
        return f"Linear({self.w!r}, {self.b!r}, {self.name!r})"


for tu in (irgrad.tree_util, jax.tree_util):
    tu.register_pytree_node(Linear, lambda n: ((n.w, n.b), n.name), lambda name, ch: Linear(*ch, name=name))

X = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], F32)
W = np.array([[0.3, -0.2], [0.1, 0.4]], F32)
B = np.array([0.05, -0.1], F32)


def loss(m):
    """Sum of squares of a tanh layer, reading w and b from any container."""
    def get(p):
        if isinstance(p, dict):
            return p["w"], p["b"]
        if isinstance(p, Linear | Params):
            return p.w, p.b
        return p[0], p[1]

    def f(params, x):
        w, b = get(params)
        return m.sum(m.tanh(x @ w + b) ** 2)
    return f


def same(got, want, rtol=2e-5, atol=1e-6):
    """Same structure (types, keys, aux data) and values as JAX's gradient."""
    g_leaves, g_tree = irgrad.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    assert g_tree.num_leaves == w_tree.num_leaves
    assert irgrad.tree_util.tree_structure(jax.tree_util.tree_unflatten(w_tree, range(len(w_leaves)))) == g_tree
    for g, w in zip(g_leaves, w_leaves):
        assert isinstance(g, irgrad.Array) and g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


CONTAINERS = {
    "tuple": lambda w, b: (w, b),
    "list": lambda w, b: [w, b],
    "dict": lambda w, b: {"w": w, "b": b},
    "namedtuple": lambda w, b: Params(w, b),
    "custom": lambda w, b: Linear(w, b, name="layer0"),
}


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_gradient_has_parameter_structure(kind):
    params = CONTAINERS[kind](W, B)
    got = irgrad.grad(loss(inp))(params, X)
    same(got, jax.grad(loss(jnp))(params, X))
    assert type(got) is type(params)
    if kind == "custom":
        assert got.name == "layer0"


def nested(m):
    def f(p, x):
        h = m.tanh(x @ p["layers"][0]["w"] + p["layers"][0]["b"])
        out = h @ p["layers"][1].w + p["layers"][1].b
        return m.mean(out ** 2) + 0.1 * p["scale"] ** 2
    return f


def nested_params():
    return {
        "layers": [{"w": W, "b": B}, Params(W.T.copy(), np.zeros(2, F32))],
        "scale": np.array(1.5, F32),
        "unused": None,                      # a node with no leaves: stays None
        "frozen": (),                        # empty tuple: stays ()
    }


def test_nested_dict_keys_sorted_and_none_kept():
    p = nested_params()
    got = irgrad.grad(nested(inp))(p, X)
    same(got, jax.grad(nested(jnp))(p, X))
    assert list(got) == sorted(p) and got["unused"] is None and got["frozen"] == ()
    assert isinstance(got["layers"][1], Params)


def test_value_and_grad_pytree_with_argnums_tuple():
    p = nested_params()
    got = irgrad.value_and_grad(nested(inp), argnums=(0, 1))(p, X)
    same(got, jax.value_and_grad(nested(jnp), argnums=(0, 1))(p, X))


def test_dict_with_python_float_leaves_and_has_aux():
    def f(m):
        def g(p):
            v = p["a"] ** 2 * p["c"][0] + m.sin(p["b"])
            return v, {"v2": v * 2}
        return g
    p = {"b": 0.5, "a": 2.0, "c": [3.0]}
    same(irgrad.grad(f(inp), has_aux=True)(p), jax.grad(f(jnp), has_aux=True)(p))


def test_jit_of_grad_with_pytree_in_and_out():
    p = nested_params()
    got = irgrad.jit(irgrad.grad(nested(inp)))(p, X)
    same(got, jax.jit(jax.grad(nested(jnp)))(p, X))


def test_int_leaf_in_differentiated_pytree_is_refused_like_jax():
    p = {"w": W, "steps": np.int32(3)}
    with pytest.raises(TypeError) as ig:
        irgrad.grad(lambda p: inp.sum(p["w"]))(p)
    with pytest.raises(TypeError) as jx:
        jax.grad(lambda p: jnp.sum(p["w"]))(p)
    assert str(ig.value) == str(jx.value)
