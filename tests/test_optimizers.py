"""irgrad.optimizers against optax (when installed) and NumPy references of the same formulas.

Eager steps on a pytree quadratic check the update rules number by number; a linear
regression trained by one jitted step (value_and_grad + update + apply_updates) checks
that the whole step compiles once, lowers the loss, and follows optax's trajectory.
"""

from __future__ import annotations

import numpy as np
import pytest
from irgrad.frontend import api

import irgrad
import irgrad.numpy as inp
from irgrad import optimizers as opt

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402

try:
    import optax
except ImportError:  # the NumPy references below still run
    optax = None

F32 = np.float32
A = F32([[3.0, 0.5], [0.5, 1.0]])


def quad_loss(numpy, p):
    """A pytree quadratic with two leaves of different shapes."""
    w, b = p["w"], p["b"]
    return 0.5 * numpy.sum(w * (numpy.asarray(A) @ w)) + numpy.sum((b - 1.0) ** 2)


def quad_grad(p):
    return {"w": A @ p["w"], "b": 2 * (p["b"] - F32(1.0))}


P0 = {"w": F32([1.0, -2.0]), "b": F32([0.5, 0.0, -1.0])}


# NumPy references of optax's formulas (float32 throughout; Python floats round to float32 on use).
def ref_sgd(lr, momentum=None, nesterov=False):
    def run(p, steps):
        t = {k: np.zeros_like(v) for k, v in p.items()}
        for _ in range(steps):
            g = quad_grad(p)
            if momentum is not None:
                t = {k: g[k] + F32(momentum) * t[k] for k in p}
                u = {k: g[k] + F32(momentum) * t[k] for k in p} if nesterov else t
            else:
                u = g
            p = {k: p[k] + F32(-lr) * u[k] for k in p}
        return p
    return run


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def run(p, steps):
        mu = {k: np.zeros_like(v) for k, v in p.items()}
        nu = {k: np.zeros_like(v) for k, v in p.items()}
        for count in range(1, steps + 1):
            g = quad_grad(p)
            mu = {k: F32(1 - b1) * g[k] + F32(b1) * mu[k] for k in p}
            nu = {k: F32(1 - b2) * g[k] ** 2 + F32(b2) * nu[k] for k in p}
            c1, c2 = F32(1) - F32(b1) ** F32(count), F32(1) - F32(b2) ** F32(count)
            u = {k: (mu[k] / c1) / (np.sqrt(nu[k] / c2) + F32(eps)) for k in p}
            p = {k: p[k] + F32(-lr) * u[k] for k in p}
        return p
    return run


CASES = {
    # name: (irgrad optimizer, optax factory or None, NumPy reference)
    "sgd": (lambda: opt.sgd(0.1), lambda: optax.sgd(0.1), ref_sgd(0.1)),
    "momentum": (lambda: opt.momentum(0.05, beta=0.9), lambda: optax.sgd(0.05, momentum=0.9),
                 ref_sgd(0.05, 0.9)),
    "nesterov": (lambda: opt.momentum(0.05, beta=0.8, nesterov=True),
                 lambda: optax.sgd(0.05, momentum=0.8, nesterov=True), ref_sgd(0.05, 0.8, True)),
    "adam": (lambda: opt.adam(0.1), lambda: optax.adam(0.1), ref_adam(0.1)),
    "adam_betas": (lambda: opt.adam(0.03, b1=0.5, b2=0.9, eps=1e-6), lambda: optax.adam(0.03, b1=0.5, b2=0.9, eps=1e-6),
                   ref_adam(0.03, 0.5, 0.9, 1e-6)),
}


def run_optax(optimizer, params, steps):
    state = optimizer.init(params)
    for _ in range(steps):
        updates, state = optimizer.update(jax.grad(lambda p: quad_loss(jnp, p))(params), state, params)
        params = optax.apply_updates(params, updates)
    return params


def optimizer_module(numpy):
    return opt if numpy is inp else optax


@pytest.mark.parametrize("name", list(CASES))
def test_eager_steps_match_reference_and_optax(name):
    make, make_optax, reference = CASES[name]
    steps = 5
    # Eagerly with precomputed gradients (no compile): the update rule alone.
    optimizer, params = make(), P0
    state = optimizer.init(params)
    for _ in range(steps):
        updates, state = optimizer.update(quad_grad({k: np.asarray(v) for k, v in params.items()}), state, params)
        params = opt.apply_updates(params, updates)
    want = reference(P0, steps)
    for k in P0:
        assert np.asarray(params[k]).dtype == np.float32
        np.testing.assert_allclose(params[k], want[k], rtol=2e-6, atol=1e-7, err_msg=f"{name} {k}")
    if optax is not None:
        theirs = run_optax(make_optax(), P0, steps)
        for k in P0:
            np.testing.assert_allclose(params[k], theirs[k], rtol=2e-6, atol=1e-7, err_msg=f"{name} {k} optax")


def test_state_is_optax_shaped():
    state = opt.adam(0.1).init(P0)
    assert isinstance(state[0], opt.ScaleByAdamState) and state[1] == opt.EmptyState()
    assert np.asarray(state[0].count).dtype == np.int32 and int(state[0].count) == 0
    assert np.asarray(state[0].mu["w"]).shape == (2,)
    sgd_state = opt.momentum(0.1).init(P0)
    np.testing.assert_array_equal(sgd_state[0].trace["b"], np.zeros(3, F32))


def test_learning_rate_schedule():
    # A callable learning rate is called with the number of updates so far.
    schedule = lambda count: 0.1 / (1.0 + count)
    optimizer = opt.sgd(schedule)
    params, state = F32([1.0]), optimizer.init(F32([1.0]))
    for k in range(3):
        updates, state = optimizer.update(F32([2.0]), state)
        np.testing.assert_allclose(updates, [-0.2 / (1 + k)], rtol=1e-6)
        params = opt.apply_updates(params, updates)
    assert int(state[1].count) == 3


def linear_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(F32)
    y = (x @ F32([2.0, -1.0, 0.5]) + 0.3 + 0.01 * rng.standard_normal(64)).astype(F32)
    return x, y


def make_train_step(lib, numpy, optimizer, x, y):
    def loss(p):
        return numpy.mean((x @ p["w"] + p["b"] - y) ** 2)

    def step(params, state):
        value, grads = lib.value_and_grad(loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return optimizer_module(numpy).apply_updates(params, updates), state, value
    return lib.jit(step)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_jitted_train_step_lowers_the_loss(name):
    make, make_optax, reference = CASES[name]
    x, y = linear_data()
    params = {"w": np.zeros(3, F32), "b": F32(0.0)}
    optimizer = make()
    step = make_train_step(irgrad, inp, optimizer, x, y)
    state = optimizer.init(params)
    losses, compiles = [], None
    for _ in range(60):
        params, state, value = step(params, state)
        losses.append(float(value))
        compiles = compiles or api.stats.compiles
    assert api.stats.compiles == compiles        # one executable for the whole loop
    assert losses[-1] < 0.05 * losses[0]
    if optax is not None:
        jparams = {"w": np.zeros(3, F32), "b": F32(0.0)}
        joptimizer = make_optax()
        jstep, jstate = make_train_step(jax, jnp, joptimizer, x, y), joptimizer.init(jparams)
        for _ in range(60):
            jparams, jstate, _ = jstep(jparams, jstate)
        for k in params:
            np.testing.assert_allclose(params[k], jparams[k], rtol=1e-4, atol=1e-5, err_msg=k)
    if name == "adam":
        assert int(state[0].count) == 60
