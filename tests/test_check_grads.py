"""irgrad.test_util.check_grads at order 2 in both modes (jvp and vjp, and each of
them differentiated again), one case per primitive with a float derivative; the
integer-valued primitives (comparisons, argmax, iota, bit ops) appear inside float
functions. check_grads itself is tested to fail on a wrong derivative."""

import functools

import numpy as np
import pytest

import irgrad
import irgrad.numpy as jnp
from irgrad import lax
from irgrad.test_util import check_grads, numerical_jvp

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


# eps=1e-3, not JAX's default 1e-4: in float32, x + 1e-4 * t rounds by up to ~1e-3 of
# the step, which made second-order central differences of arcsinh miss by 1.3%.
EPS = 1e-3
TOL = 2e-3      # check_grads' float32 tolerance (JAX's): atol = rtol = TOL * leaf size


# check_grads on one case compiles ~9 tiny modules (jvp, vjp, pullback, and each of them
# differentiated again), ~6 CPU-s a case. The checks below are check_grads' own, in the same
# order (order 2, "fwd" and "rev"), run on ALL cases at once: F maps {case: args} to
# {case: f(*args)}, so each transformed function is compiled once for every case, and each
# case's leaves are compared on their own, with check_grads' tolerances. F is block
# diagonal (a case's outputs depend only on its inputs), so the one pullback call gives
# each case exactly its own vjp: <t_k, vjp(c)_k> = <J_k t_k, c_k>, checked per case.

def pick(tree, name):
    """Case `name`'s part of a tree built from {case: ...} dicts."""
    if isinstance(tree, dict):
        return tree[name]
    if isinstance(tree, (tuple, list)):
        return type(tree)(pick(t, name) for t in tree)
    return tree


def rand_like(rng, tree):
    return irgrad.tree_util.tree_map(lambda x: np.asarray(rng.randn(*np.shape(x)), np.float32), tree)


def inner(xs, ys):
    return sum(float(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64)))
               for x, y in zip(irgrad.tree_util.tree_leaves(xs), irgrad.tree_util.tree_leaves(ys)))


def close(errors, got, want, what):
    got_leaves, want_leaves = irgrad.tree_util.tree_leaves(got), irgrad.tree_util.tree_leaves(want)
    if len(got_leaves) != len(want_leaves):
        errors.append(f"{what}: {len(got_leaves)} leaves, expected {len(want_leaves)}")
    for g, w in zip(got_leaves, want_leaves):
        g, w = np.asarray(g), np.asarray(w)
        try:
            np.testing.assert_allclose(g, w, atol=TOL * g.size, rtol=TOL * w.size, err_msg=what)
        except AssertionError as e:
            errors.append(str(e))


def check_level(h, args, label, errors):
    """check_jvp and check_vjp of h at `args`, per case: errors[case] gets the mismatches."""
    rng = np.random.RandomState(0)
    tangent = rand_like(rng, args)
    want = h(*args)
    numerical = numerical_jvp(h, args, tangent, EPS)
    value, tangent_out = irgrad.jvp(h, args, tangent)
    value_r, pullback = irgrad.vjp(h, *args)
    cotangent = rand_like(rng, value_r)
    cotangent_in = pullback(cotangent)
    for name, errs in errors.items():
        close(errs, pick(value, name), pick(want, name), f"JVP{label} primal")
        close(errs, pick(tangent_out, name), pick(numerical, name), f"JVP{label} tangent")
        close(errs, pick(value_r, name), pick(want, name), f"VJP{label} primal")
        close(errs, np.float32(inner(pick(tangent, name), pick(cotangent_in, name))),
              np.float32(inner(pick(numerical, name), pick(cotangent, name))), f"VJP{label} cotangent projection")


def all_cases(xs):
    return {name: f(*xs[name]) for name, (f, _) in CASES.items()}


def all_cases_vjp(*a):
    out, pullback = irgrad.vjp(all_cases, *a)
    return pullback(out)


@pytest.fixture(scope="module")
def order_2_errors():
    """{case: mismatches} of check_grads(f, args, order=2, modes=("fwd", "rev")) for every
    case at once; None when the combined functions fail to build or compile (each test then
    runs check_grads on its case alone, so the error names it)."""
    errors = {name: [] for name in CASES}
    xs = {name: tuple(args) for name, (_, args) in CASES.items()}
    try:
        check_level(all_cases, (xs,), "", errors)
        check_level(functools.partial(irgrad.jvp, all_cases), ((xs,), (xs,)), " of JVP", errors)
        check_level(all_cases_vjp, (xs,), " of VJP", errors)
    except Exception:  # noqa: BLE001 - reported per case by the tests
        return None
    return errors


@pytest.mark.parametrize("name", list(CASES))
def test_check_grads_order_2(order_2_errors, name):
    f, args = CASES[name]
    if order_2_errors is None:
        check_grads(f, args, order=2, modes=("fwd", "rev"), eps=EPS)
    assert not (order_2_errors or {}).get(name), f"{name}:\n" + "\n".join(order_2_errors[name])


def test_check_grads_itself_order_2():
    """check_grads (the public function) on a unary, a binary and a reduction case at once
    (one function of their five arguments, so each transformed function compiles once)."""
    (f1, a1), (f2, a2), (f3, a3) = (CASES[name] for name in ("tanh", "pow", "reduce_max"))
    check_grads(lambda x, y, z, w: (f1(x), f2(y, z), f3(w)), (*a1, *a2, *a3), order=2, modes=("fwd", "rev"),
                eps=EPS)


def test_check_grads_catches_a_wrong_derivative():
    """A function whose value and derivative disagree (stop_gradient hides x from the
    derivative, but the numerical derivative sees it) must fail, in either mode."""
    f = lambda x: lax.stop_gradient(x) * x
    for mode in ("fwd", "rev"):
        with pytest.raises(AssertionError):
            check_grads(f, (vec(1, 2),), order=1, modes=(mode,))


def test_check_grads_linearize_mode():
    check_grads(lambda x: jnp.sin(x) * x, (vec(-1, 1),), order=2, modes=("lin",))
