"""Product reductions written as plain linalg.generic ops (mulf into `outs`), through
`irgrad-opt`, to second order, at inputs holding 0, 1 and 2 zeros, against JAX.

The passes rewrite each product into a pairwise tree (passes/products.py), so every
derivative is exact where elements are zero. Checked: the full Hessian (built column
by column from @F_vjp_vjp: symmetric and equal to jax.hessian), forward over forward
(@F_jvp_jvp against JAX's jvp of jvp), and the batching pass on @F_vjp_vjp. Also
jnp.prod and a cumulative product built as a masked product through irgrad.hessian.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable
from test_reverse_pass import MAPS, only_public, run_opt, to_numpy

import irgrad
import irgrad.numpy as inp

SRC = """
// w . (product of each row of x), rows reduced along d1 with an init of 1
func.func @rows(%x: tensor<3x4xf32>, %w: tensor<3xf32>) -> tensor<f32> {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %p = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  %e0 = tensor.empty() : tensor<f32>
  %z = linalg.fill ins(%zero : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %s = linalg.generic {indexing_maps = [#v, #v, #s], iterator_types = ["reduction"]}
      ins(%p, %w : tensor<3xf32>, tensor<3xf32>) outs(%z : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %t = arith.addf %m, %acc : f32
    linalg.yield %t : f32
  } -> tensor<f32>
  return %s : tensor<f32>
}

// the product of all of x (both dims reduced) times an init taken from an argument
func.func @all(%x: tensor<3x4xf32>, %init: tensor<f32>) -> tensor<f32> {
  %p = linalg.generic {indexing_maps = [#id, #s2], iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %acc, %a : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  return %p : tensor<f32>
}

// the product over a 1-D vector of an expression of it: prod(x * x + x)
func.func @vec(%x: tensor<5xf32>) -> tensor<f32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %p = linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%x : tensor<5xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %sq = arith.mulf %a, %a : f32
    %y = arith.addf %sq, %a : f32
    %m = arith.mulf %y, %acc : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  return %p : tensor<f32>
}
"""

W = np.float32([0.7, -1.3, 2.0])
JAX_FNS = {
    "rows": (lambda x, w: jnp.sum(jnp.prod(x, axis=1) * w), (3, 4)),
    "all": (lambda x, init: init * jnp.prod(x), (3, 4)),
    "vec": (lambda x: jnp.prod(x * x + x), (5,)),
}
OTHER = {"rows": [W], "all": [np.float32(1.7)], "vec": []}


def with_zeros(shape, count, seed=0):
    """Random values in [0.5, 1.5] with random signs and `count` zeros."""
    rng = np.random.default_rng(seed)
    x = (rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float32)
    x.reshape(-1)[rng.choice(x.size, count, replace=False)] = 0.0
    return x


def opt(text, *args):
    status, out, err = run_opt(["-", *args], stdin_text=text)
    assert status == 0, err
    return out


@pytest.fixture(scope="module")
def module():
    """Each function's @F_vjp_vjp, @F_jvp_jvp and @F_vjp_vjp_batched, compiled once."""
    text = MAPS + SRC
    entries = []
    for name in JAX_FNS:
        text = opt(text, "--vjp", name, "--wrt", "0")
        text = opt(text, "--vjp", f"{name}_vjp", "--wrt", "0")
        text = opt(text, "--jvp", name, "--wrt", "0")
        n_args = 1 + len(OTHER[name])
        text = opt(text, "--jvp", f"{name}_jvp", "--wrt", f"0,{n_args}")
        axes = ",".join(["0"] + ["none"] * (n_args - 1) + ["none"] * 3)
        text = opt(text, "--vmap", f"{name}_vjp_vjp", "--in-axes", axes, "--axis-size", "3")
        entries += [f"{name}_vjp_vjp", f"{name}_jvp_jvp", f"{name}_vjp_vjp_batched"]
    return text, compile_mlir(only_public(text, entries), name="test_product_reductions")


_EXECUTABLES = {}


def call(module, entry, *args):
    """Call `entry`; its Executable is kept, and each result copied off the device."""
    key = (id(module[1]), entry)
    if key not in _EXECUTABLES:
        _EXECUTABLES[key] = Executable(module[1], entry=entry)
    return [np.array(to_numpy(r)) for r in _EXECUTABLES[key](*args)]   # copies: to_host maps device memory


def hessian_columns(module, name, x):
    """The Hessian of F w.r.t. x from @F_vjp_vjp(x, others, ct, cy, cdx), one column per
    basis vector cdx (ct = 1, cy = 0): returns (F, dF/dx, H)."""
    one, zero = np.float32(1.0), np.float32(0.0)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size, np.float32)
        e[k] = 1.0
        y, dx, hcol = call(module, f"{name}_vjp_vjp", x, *OTHER[name], one, zero, e.reshape(x.shape))[:3]
        cols.append(hcol.reshape(-1))
    return y, dx, np.stack(cols, axis=1)


@pytest.mark.parametrize("zeros", [0, 1, 2])
@pytest.mark.parametrize("name", list(JAX_FNS))
def test_hessian_is_exact_and_symmetric(module, name, zeros):
    f, shape = JAX_FNS[name]
    x = with_zeros(shape, zeros, seed=zeros)
    y, dx, h = hessian_columns(module, name, x)
    want = np.asarray(jax.hessian(f)(x, *OTHER[name])).reshape(x.size, x.size)
    np.testing.assert_allclose(y, f(x, *OTHER[name]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, jax.grad(f)(x, *OTHER[name]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h.T, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("zeros", [0, 1, 2])
@pytest.mark.parametrize("name", list(JAX_FNS))
def test_jvp_of_jvp(module, name, zeros):
    """@F_jvp_jvp(x, others, t, u, dt) with dt = 0: the tangent of F's tangent is u' H t."""
    f, shape = JAX_FNS[name]
    rng = np.random.default_rng(5)
    x = with_zeros(shape, zeros, seed=zeros)
    t, u = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    got = call(module, f"{name}_jvp_jvp", x, *OTHER[name], t, u, np.zeros(shape, np.float32))
    g = lambda x: jax.jvp(lambda x: f(x, *OTHER[name]), (x,), (t,))
    (y, ty), (uy, uty) = jax.jvp(g, (x,), (u,))
    for a, b in zip(got, [y, ty, uy, uty]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(JAX_FNS))
def test_batched_second_derivative(module, name):
    """The batching pass on @F_vjp_vjp: three inputs with 0, 1 and 2 zeros at once."""
    f, shape = JAX_FNS[name]
    xs = np.stack([with_zeros(shape, z, seed=z) for z in range(3)])
    rng = np.random.default_rng(9)
    cdx = rng.standard_normal(shape).astype(np.float32)
    one, zero = np.float32(1.0), np.float32(0.0)
    got = call(module, f"{name}_vjp_vjp_batched", xs, *OTHER[name], one, zero, cdx)
    for b, x in enumerate(xs):
        want = np.asarray(jax.hessian(f)(x, *OTHER[name])).reshape(x.size, x.size) @ cdx.reshape(-1)
        np.testing.assert_allclose(got[2][b].reshape(-1), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("zeros", [0, 1, 2, 3])
def test_prod_and_masked_cumprod_hessians(zeros):
    """Through irgrad.hessian: jnp.prod, and a cumulative product as a masked product."""
    x = with_zeros((4,), zeros, seed=zeros)
    mask = np.tril(np.ones((4, 4), bool))
    weights = np.float32([1.0, -2.0, 0.5, 3.0])
    fns = lambda np_: [lambda x: np_.prod(x),
                       lambda x: np_.sum(np_.prod(np_.where(mask, x[None, :], 1.0), axis=1) * weights)]
    for mine, theirs in zip(fns(inp), fns(jnp)):
        h = np.asarray(irgrad.hessian(mine)(x))
        np.testing.assert_allclose(h, np.asarray(jax.hessian(theirs)(x)), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h, h.T, rtol=1e-5, atol=1e-6)
