"""The workloads, written once against the JAX API and run on both libraries.

Each workload is `build(lib, quick) -> step`, where `lib` is a `Lib` (the module
pair `jax`, `jnp` plus `put`, which makes an array device-resident) and `step()`
runs one call and blocks until its results are ready.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Lib:
    name: str
    jax: object
    jnp: object
    put: Callable


def _irgrad_put(x):
    import irgrad
    if hasattr(irgrad, "device_put"):
        return irgrad.device_put(x)
    from irgrad.frontend.array import Array
    from irgrad.runtime.executable import to_device
    x = np.asarray(x)
    return Array(None, device_array=to_device(x), dtype=x.dtype, shape=x.shape)


def load(name: str) -> Lib:
    """`Lib` for "irgrad" or "jax" (JAX on CPU)."""
    if name == "jax":
        jax = importlib.import_module("jax")
        jax.config.update("jax_platforms", "cpu")
        return Lib("jax", jax, importlib.import_module("jax.numpy"), jax.device_put)
    return Lib("irgrad", importlib.import_module("irgrad"), importlib.import_module("irgrad.numpy"), _irgrad_put)


def block(lib: Lib, tree):
    """Wait until every array in `tree` is computed (irgrad calls return ready arrays)."""
    if lib.name == "jax":
        return lib.jax.block_until_ready(tree)
    return tree


# ------------------------------------------------------------------ (a) MLP training step

MLP_SIZES = (64, 256, 256, 1)
MLP_BATCH = 512


def mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    params = [(rng.standard_normal((m, n)).astype(np.float32) / np.sqrt(m), np.zeros(n, np.float32))
              for m, n in zip(MLP_SIZES[:-1], MLP_SIZES[1:])]
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    y = rng.standard_normal((MLP_BATCH, MLP_SIZES[-1])).astype(np.float32)
    return params, x, y


def mlp_step_fn(lib: Lib, lr=0.01):
    """The jitted training step: value_and_grad of the MSE loss plus the SGD update."""
    jax, jnp = lib.jax, lib.jnp

    def loss(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = jnp.tanh(h @ w + b)
        w, b = params[-1]
        return jnp.mean((h @ w + b - y) ** 2)

    @jax.jit
    def step(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)], value

    return step


def mlp_step(lib: Lib, quick: bool):
    params, x, y = mlp_data()
    state = {"params": [(lib.put(w), lib.put(b)) for w, b in params]}
    x, y = lib.put(x), lib.put(y)
    step = mlp_step_fn(lib)

    def run():
        state["params"], value = block(lib, step(state["params"], x, y))
        return value
    return run


# ------------------------------------------------------------------ (b) logistic-loss gradient

LOGISTIC_SHAPE = (4096, 256)


def logistic_grad(lib: Lib, quick: bool):
    jax, jnp = lib.jax, lib.jnp

    def sigmoid(x):
        return 0.5 * (jnp.tanh(x / 2) + 1)

    def loss(W, b, inputs, targets):
        preds = sigmoid(jnp.dot(inputs, W) + b)
        label_probs = preds * targets + (1 - preds) * (1 - targets)
        return -jnp.sum(jnp.log(label_probs))

    rng = np.random.default_rng(1)
    n, d = LOGISTIC_SHAPE
    inputs = lib.put((rng.standard_normal((n, d)) / np.sqrt(d)).astype(np.float32))
    targets = lib.put(rng.random(n) < 0.5)
    W = lib.put(rng.standard_normal(d).astype(np.float32))
    b = lib.put(np.float32(rng.standard_normal()))
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: block(lib, g(W, b, inputs, targets))


# ------------------------------------------------------------------ (c) grad of sum(tanh(A @ B))

MATMUL_N = 1024


def matmul_tanh_grad(lib: Lib, quick: bool):
    jax, jnp = lib.jax, lib.jnp
    rng = np.random.default_rng(2)
    n = MATMUL_N
    A = lib.put((rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32))
    B = lib.put(rng.standard_normal((n, n)).astype(np.float32))
    g = jax.jit(jax.grad(lambda A, B: jnp.sum(jnp.tanh(A @ B)), argnums=(0, 1)))
    return lambda: block(lib, g(A, B))


# ------------------------------------------------------------------ (d) per-call overhead

def tiny_call(lib: Lib, quick: bool):
    f = lib.jax.jit(lambda x: x * 2 + 1)
    x = lib.put(np.arange(4, dtype=np.float32))
    return lambda: block(lib, f(x))


# ------------------------------------------------------------------ (g) Hessian of a small network's loss

HESSIAN_SIZES = (64, 128)   # x has 64 entries, W is 128x64


def hessian_data(n=HESSIAN_SIZES[0], m=HESSIAN_SIZES[1], seed=3):
    """(x, W, b) for hessian_fn: x (n,), W (m, n), b (m,)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n).astype(np.float32), (rng.standard_normal((m, n)) / np.sqrt(n)).astype(np.float32),
            (0.1 * rng.standard_normal(m)).astype(np.float32))


def hessian_fn(lib: Lib):
    """jit(hessian(f)) w.r.t. x of f(x, W, b) = sum(tanh(W @ x + b)**2) + sum(x**2) / 2."""
    jax, jnp = lib.jax, lib.jnp

    def f(x, W, b):
        return jnp.sum(jnp.tanh(W @ x + b) ** 2) + 0.5 * jnp.sum(x ** 2)
    return jax.jit(jax.hessian(f))


def hessian_reference(x, W, b) -> np.ndarray:
    """The exact Hessian in float64: W^T diag(2 (1 - t^2) (1 - 3 t^2)) W + I with t = tanh(W x + b).

    >>> hessian_reference(np.zeros(1), np.ones((1, 1)), np.zeros(1))
    array([[3.]])
    """
    x, W, b = (np.asarray(a, np.float64) for a in (x, W, b))
    t = np.tanh(W @ x + b)
    return (W.T * (2 * (1 - t ** 2) * (1 - 3 * t ** 2))) @ W + np.eye(len(x))


def check(got, want, what: str, rtol=1e-4, atol=1e-4) -> None:
    """Refuse to time a workload whose result is wrong: leaves of `got` against `want`'s."""
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves), f"{what}: {len(got_leaves)} results, expected {len(want_leaves)}"
    for g, w in zip(got_leaves, want_leaves):
        scale = float(np.max(np.abs(w))) or 1.0
        np.testing.assert_allclose(np.asarray(g, np.float64), w, rtol=rtol, atol=atol * scale, err_msg=what)


def _leaves(tree) -> list:
    if isinstance(tree, list | tuple):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [tree]


def hessian_workload(lib: Lib, quick: bool):
    data = hessian_data()
    h = hessian_fn(lib)
    args = [lib.put(a) for a in data]
    check(block(lib, h(*args)), hessian_reference(*data), f"{lib.name} hessian")
    return lambda: block(lib, h(*args))


# ------------------------------------------------------------------ (h) per-example gradients

PER_EXAMPLE_BATCH = 128


def mlp_loss(lib: Lib):
    """Workload (a)'s MSE loss of the tanh MLP (for one example: x (64,), y (1,))."""
    jnp = lib.jnp

    def loss(params, x, y):
        h = x
        for w, b in params[:-1]:
            h = jnp.tanh(h @ w + b)
        w, b = params[-1]
        return jnp.mean((h @ w + b - y) ** 2)
    return loss


def per_example_fn(lib: Lib):
    """jit(vmap(grad(loss), in_axes=(None, 0, 0))): the gradient pytree of every example."""
    jax = lib.jax
    return jax.jit(jax.vmap(jax.grad(mlp_loss(lib)), in_axes=(None, 0, 0)))


def per_example_reference(params, X, Y) -> list:
    """Per-example gradients of mlp_loss by hand-written backprop in float64:
    [(dW, db) per layer], each with the batch as its leading axis."""
    params = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in params]
    hs = [np.asarray(X, np.float64)]                   # each layer's input, (B, m)
    for w, b in params[:-1]:
        hs.append(np.tanh(hs[-1] @ w + b))
    w, b = params[-1]
    err = hs[-1] @ w + b - np.asarray(Y, np.float64)
    delta = 2 * err / err.shape[1]                     # d loss / d (pre-activation), (B, n)
    grads = []
    for k in range(len(params) - 1, -1, -1):
        grads.append((hs[k][:, :, None] * delta[:, None, :], delta))
        if k:
            delta = (delta @ params[k][0].T) * (1 - hs[k] ** 2)
    return grads[::-1]


def per_example_workload(lib: Lib, quick: bool):
    params, x, y = mlp_data()
    X, Y = x[:PER_EXAMPLE_BATCH], y[:PER_EXAMPLE_BATCH]
    g = per_example_fn(lib)
    args = ([(lib.put(w), lib.put(b)) for w, b in params], lib.put(X), lib.put(Y))
    check(block(lib, g(*args)), per_example_reference(params, X, Y), f"{lib.name} per-example gradients")
    return lambda: block(lib, g(*args))


@dataclass
class Workload:
    name: str
    title: str
    build: Callable | None      # None: measured in subprocesses (first_call)
    calls_per_sample: int       # calls timed together; the sample is their mean
    samples: int                # samples after warm-up (halved-ish with --quick)


WORKLOADS = {w.name: w for w in [
    Workload("mlp", "(a) MLP step 64-256-256-1, batch 512: value_and_grad + SGD in one jit", mlp_step, 5, 40),
    Workload("logistic", "(b) grad of logistic loss, inputs 4096x256, w.r.t. (W, b)", logistic_grad, 5, 40),
    Workload("matmul", "(c) grad of sum(tanh(A @ B)), 1024x1024, w.r.t. A and B", matmul_tanh_grad, 1, 30),
    Workload("tiny", "(d) x*2+1 on a 4-vector, device-resident: per-call overhead", tiny_call, 1000, 30),
    Workload("first_call", "(e) first call of the MLP step (trace+compile+run), fresh process, cold cache",
             None, 1, 3),
    Workload("first_call_warm", "(f) first call of the MLP step, fresh process, warm compile cache", None, 1, 3),
    Workload("hessian", "(g) jit(hessian(f)), f(x) = sum(tanh(W @ x + b)**2) + 0.5*sum(x**2), x: 64, W: 128x64",
             hessian_workload, 20, 30),
    Workload("per_example", "(h) per-example gradients jit(vmap(grad(loss), (None, 0, 0))), MLP of (a), batch 128",
             per_example_workload, 1, 20),
]}
