"""irgrad.test_util.check_grads at order 2 in both modes (jvp and vjp, and each of
them differentiated again), one case per primitive with a float derivative; the
integer-valued primitives (comparisons, argmax, iota, bit ops) appear inside float
functions. check_grads itself is tested to fail on a wrong derivative."""

import numpy as np
import pytest

import irgrad
import irgrad.numpy as jnp
from irgrad import lax
from irgrad.test_util import check_grads

rng = np.random.RandomState(42)


def vec(lo, hi, n=3):
    return rng.uniform(lo, hi, n).astype(np.float32)


UNARY = {
    "neg": (jnp.negative, -2, 2), "exp": (jnp.exp, -1, 1), "exp2": (jnp.exp2, -1, 1),
    "log": (jnp.log, 0.5, 2), "log2": (jnp.log2, 0.5, 2), "log10": (jnp.log10, 0.5, 2),
    "log1p": (jnp.log1p, -0.5, 1), "expm1": (jnp.expm1, -1, 1), "sqrt": (jnp.sqrt, 0.5, 2),
    "rsqrt": (lambda x: lax_rsqrt(x), 0.5, 2), "cbrt": (jnp.cbrt, 0.5, 2), "tanh": (jnp.tanh, -1, 1),
    "sin": (jnp.sin, -2, 2), "cos": (jnp.cos, -2, 2), "tan": (jnp.tan, -1, 1), "arctan": (jnp.arctan, -2, 2),
    "arcsin": (jnp.arcsin, -0.8, 0.8), "arccos": (jnp.arccos, -0.8, 0.8), "sinh": (jnp.sinh, -1, 1),
    "cosh": (jnp.cosh, -1, 1), "arcsinh": (jnp.arcsinh, -2, 2), "arccosh": (jnp.arccosh, 1.5, 3),
    "arctanh": (jnp.arctanh, -0.8, 0.8), "abs": (jnp.abs, 0.3, 2), "sign": (lambda x: jnp.sign(x) * x, 0.3, 2),
    "floor": (lambda x: jnp.floor(x) * x, 0.2, 0.8), "ceil": (lambda x: jnp.ceil(x) * x, 0.2, 0.8),
    "round": (lambda x: jnp.round(x) * x, 0.6, 1.4), "trunc": (lambda x: jnp.trunc(x) * x, 1.2, 1.8),
    "erf": (lambda x: irgrad.scipy_erf(x) if hasattr(irgrad, "scipy_erf") else erf(x), -1, 1),
}


def lax_rsqrt(x):
    from irgrad.frontend.primitives import bind
    return bind("rsqrt", x)


def erf(x):
    from irgrad.frontend.primitives import bind
    return bind("erf", x)


BINARY = {
    "add": (jnp.add, (-2, 2), (-2, 2)), "sub": (jnp.subtract, (-2, 2), (-2, 2)),
    "mul": (jnp.multiply, (-2, 2), (-2, 2)), "div": (jnp.divide, (-2, 2), (0.5, 2)),
    "pow": (jnp.power, (0.5, 2), (-1.5, 1.5)), "max": (jnp.maximum, (-2, -1), (1, 2)),
    "min": (jnp.minimum, (-2, -1), (1, 2)), "atan2": (jnp.arctan2, (-2, 2), (0.5, 2)),
    "rem": (jnp.remainder, (2.2, 2.8), (1, 1.5)),
    "floor_divide": (lambda x, y: jnp.floor_divide(x, y) * x + y, (2.2, 2.8), (1, 1.5)),
}

OTHER = {
    "integer_pow": (lambda x: x ** 3, [vec(-2, 2)]),
    "fma": (lambda x, y, z: x * y + z, [vec(-1, 1), vec(-1, 1), vec(-1, 1)]),
    "select/gt": (lambda x, y: jnp.where(x > y, x * y, jnp.sin(x)), [vec(-2, 2, 4), vec(-2, 2, 4)]),
    "reduce_sum": (lambda x: jnp.sum(x * x, axis=0), [rng.randn(3, 2).astype(np.float32)]),
    "reduce_max": (lambda x: jnp.max(x, axis=1), [np.array([[0.1, 0.9, -0.3], [1.2, -0.5, 0.2]], np.float32)]),
    "reduce_min": (lambda x: jnp.min(x, axis=1), [np.array([[0.1, 0.9, -0.3], [1.2, -0.5, 0.2]], np.float32)]),
    "reduce_prod": (lambda x: jnp.prod(x, axis=1), [vec(0.5, 1.5, 6).reshape(2, 3)]),
    "dot_general": (lambda a, b: a @ b, [rng.randn(2, 3).astype(np.float32), rng.randn(3, 2).astype(np.float32)]),
    "transpose": (lambda a: jnp.sin(a.T), [rng.randn(2, 3).astype(np.float32)]),
    "reshape": (lambda a: jnp.sin(a.reshape(3, 2)) * 2.0, [rng.randn(2, 3).astype(np.float32)]),
    "broadcast_in_dim": (lambda a, b: a[:, None] * b[None, :], [vec(-1, 1, 2), vec(-1, 1, 3)]),
    "slice": (lambda a: jnp.sin(a[1:3]) * a[::2][:2], [vec(-1, 1, 4)]),
    "rev": (lambda a: a[::-1] * a, [vec(-1, 1, 4)]),
    "concatenate": (lambda a, b: jnp.concatenate([a * b, jnp.sin(b)]), [vec(-1, 1), vec(-1, 1)]),
    "convert_element_type": (lambda a: jnp.astype(a > 0, jnp.float32) * a ** 2, [vec(-1, 1, 4)]),
    # (a stop_gradient that changes the derivative would disagree with finite differences)
    "stop_gradient": (lambda a: jnp.sin(a) + lax.stop_gradient(a) * 0.5 - lax.stop_gradient(0.5 * a), [vec(-1, 1)]),
    "sort": (lambda a: jnp.sort(a * a) * jnp.arange(1.0, 5.0), [np.array([0.3, -1.2, 0.8, 2.0], np.float32)]),
    "argmax/iota/eq": (lambda a: jnp.sum(a * (jnp.arange(4) == jnp.argmax(a))), [vec(-1, 1, 4)]),
}

CASES = {**{k: (f, [vec(lo, hi)]) for k, (f, lo, hi) in UNARY.items()},
         **{k: (f, [vec(*a), vec(*b)]) for k, (f, a, b) in BINARY.items()}, **OTHER}


@pytest.mark.parametrize("name", list(CASES))
def test_check_grads_order_2(name):
    # eps=1e-3, not JAX's default 1e-4: in float32, x + 1e-4 * t rounds by up to ~1e-3 of
    # the step, which made second-order central differences of arcsinh miss by 1.3%.
    f, args = CASES[name]
    check_grads(f, args, order=2, modes=("fwd", "rev"), eps=1e-3)


def test_check_grads_catches_a_wrong_derivative():
    """A function whose value and derivative disagree (stop_gradient hides x from the
    derivative, but the numerical derivative sees it) must fail, in either mode."""
    f = lambda x: lax.stop_gradient(x) * x
    for mode in ("fwd", "rev"):
        with pytest.raises(AssertionError):
            check_grads(f, (vec(1, 2),), order=1, modes=(mode,))


def test_check_grads_linearize_mode():
    check_grads(lambda x: jnp.sin(x) * x, (vec(-1, 1),), order=2, modes=("lin",))
