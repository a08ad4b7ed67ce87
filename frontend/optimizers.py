"""irgrad.optimizers: gradient transformations in the style of optax, with optax's numerics.

An optimizer is a pair of pure functions over pytrees, `init(params) -> state` and
`update(grads, state, params=None) -> (updates, new_state)`; `apply_updates(params,
updates)` adds the updates. Being pure, a whole training step (value_and_grad,
update, apply_updates) can sit inside one `jit`:

>>> import irgrad, irgrad.numpy as jnp
>>> opt = sgd(0.1)
>>> params = {"w": jnp.array([1.0, -2.0])}
>>> state = opt.init(params)
>>> grads = irgrad.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
>>> updates, state = opt.update(grads, state)
>>> apply_updates(params, updates)["w"]
Array([ 0.8, -1.6], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import numpy_api as jnp
from .tree_util import tree_map


class GradientTransformation(NamedTuple):
    """`init(params) -> state`, `update(updates, state, params=None) -> (updates, state)`."""

    init: Callable
    update: Callable


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class ScaleByScheduleState(NamedTuple):
    count: Any              # int32 scalar: updates done so far


class TraceState(NamedTuple):
    trace: Any              # pytree like params


class ScaleByAdamState(NamedTuple):
    count: Any              # int32 scalar
    mu: Any                 # first moment, pytree like params
    nu: Any                 # second moment


def _zeros_like(tree):
    return tree_map(jnp.zeros_like, tree)


def _safe_increment(count):
    """count + 1, saturating at the int32 maximum (optax.safe_increment)."""
    top = np.int32(np.iinfo(np.int32).max)
    return jnp.where(count < top, count + np.int32(1), top)


def _bias_correction(moment, decay, count):
    """moment / (1 - decay ** count), the division in the moment's precision."""
    correction = 1 - decay ** count
    return tree_map(lambda t: t / jnp.astype(correction, t.dtype), moment)


# ---------------------------------------------------------------- building blocks

def identity() -> GradientTransformation:
    """Leaves the updates unchanged."""
    return GradientTransformation(lambda params: EmptyState(), lambda updates, state, params=None: (updates, state))


def scale(step_size) -> GradientTransformation:
    """Multiplies the updates by `step_size`."""
    def update(updates, state, params=None):
        return tree_map(lambda g: step_size * g, updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_schedule(step_size_fn: Callable) -> GradientTransformation:
    """Multiplies the updates by `step_size_fn(count)`, count the number of updates so far."""
    def init(params):
        return ScaleByScheduleState(count=jnp.zeros((), np.int32))

    def update(updates, state, params=None):
        step_size = step_size_fn(state.count)
        updates = tree_map(lambda g: jnp.asarray(step_size, g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=_safe_increment(state.count))
    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate, *, flip_sign=True) -> GradientTransformation:
    """Multiplies by -learning_rate (a number or a schedule `count -> rate`)."""
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)


def trace(decay, nesterov=False) -> GradientTransformation:
    """Momentum: t <- g + decay * t; the update is t (or g + decay * t with Nesterov)."""
    def init(params):
        return TraceState(trace=_zeros_like(params))

    def update(updates, state, params=None):
        f = lambda g, t: g + decay * t
        new_trace = tree_map(f, updates, state.trace)
        updates = tree_map(f, updates, new_trace) if nesterov else new_trace
        return updates, TraceState(trace=new_trace)
    return GradientTransformation(init, update)


def scale_by_adam(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0) -> GradientTransformation:
    """Adam's rescaling: bias-corrected m / (sqrt(v + eps_root) + eps) of the moment estimates."""
    def init(params):
        return ScaleByAdamState(count=jnp.zeros((), np.int32), mu=_zeros_like(params), nu=_zeros_like(params))

    def update(updates, state, params=None):
        mu = tree_map(lambda g, t: (1 - b1) * g + b1 * t, updates, state.mu)
        nu = tree_map(lambda g, t: (1 - b2) * (g ** 2) + b2 * t, updates, state.nu)
        count = _safe_increment(state.count)
        mu_hat = _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        updates = tree_map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)
    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies `transforms` in order; the state is the tuple of their states."""
    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)
    return GradientTransformation(init, update)


# ------------------------------------------------------------------ optimizers

def sgd(learning_rate, momentum=None, nesterov=False) -> GradientTransformation:
    """Stochastic gradient descent, optionally with (Nesterov) momentum: updates -lr * g.

    >>> opt = sgd(0.5)
    >>> opt.update(jnp.array([2.0]), opt.init(jnp.array([0.0])))[0]
    Array([-1.], dtype=float32)
    """
    first = trace(momentum, nesterov) if momentum is not None else identity()
    return chain(first, scale_by_learning_rate(learning_rate))


def momentum(learning_rate, beta=0.9, nesterov=False) -> GradientTransformation:
    """SGD with momentum `beta` (optax.sgd(learning_rate, momentum=beta, nesterov=nesterov))."""
    return sgd(learning_rate, momentum=beta, nesterov=nesterov)


def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0) -> GradientTransformation:
    """Adam (Kingma & Ba), as optax.adam.

    >>> opt = adam(0.1)
    >>> updates, state = opt.update(jnp.array([3.0]), opt.init(jnp.array([0.0])))
    >>> updates
    Array([-0.09999934], dtype=float32)
    """
    return chain(scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))


def apply_updates(params, updates):
    """params + updates, leaf by leaf, keeping each parameter's dtype."""
    return tree_map(lambda p, u: jnp.astype(jnp.asarray(p + u), jnp.asarray(p).dtype), params, updates)


__all__ = ["EmptyState", "GradientTransformation", "ScaleByAdamState", "ScaleByScheduleState", "TraceState",
           "adam", "apply_updates", "chain", "identity", "momentum", "scale", "scale_by_adam",
           "scale_by_learning_rate", "scale_by_schedule", "sgd", "trace"]
