"""irgrad.test_util.check_grads: JAX's gradient checker, run on irgrad's transformations.

Derivatives from jvp / vjp are compared with central differences along one random
direction (NumPy RandomState(0), as JAX), up to `order`, in the modes asked for; the
tolerances, step and comparison rule are JAX's (jax.test_util), so a function that
passes there passes here.
"""

from __future__ import annotations

import functools

import numpy as np

from . import tree_util
from .transforms import float0, jvp, linearize, vjp

EPS = 1e-4
# JAX's default_gradient_tolerance for the dtypes irgrad has.
_GRAD_TOL = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 2e-3, np.dtype(np.float64): 1e-5}
_DEFAULT_TOL = {np.dtype(np.float16): 1e-3, np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-15}


def _dtype(x):
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype)
    if isinstance(x, bool):
        return np.dtype(np.bool_)
    if isinstance(x, int):
        return np.dtype(np.int32)
    if isinstance(x, float):
        return np.dtype(np.float32)
    return np.asarray(x).dtype


def _is_py_scalar(x):
    return isinstance(x, bool | int | float) and not isinstance(x, np.generic)


def _tol(dtype, tol, table):
    if tol is not None and not isinstance(tol, dict):
        return tol
    merged = {**table, **{np.dtype(k): v for k, v in (tol or {}).items()}}
    return merged.get(np.dtype(dtype), 0)


def _close(a, b, atol, rtol, err_msg):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{err_msg}: shapes {a.shape} and {b.shape} differ"
    if a.dtype == float0 or b.dtype == float0:
        return
    at = max(_tol(a.dtype, atol, _DEFAULT_TOL), _tol(b.dtype, atol, _DEFAULT_TOL))
    rt = max(_tol(a.dtype, rtol, _DEFAULT_TOL), _tol(b.dtype, rtol, _DEFAULT_TOL))
    kw = {}
    if at:
        kw["atol"] = at * a.size
    if rt:
        kw["rtol"] = rt * b.size
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(a, b, err_msg=err_msg, **kw)


def _check_close(xs, ys, atol, rtol, err_msg):
    x_leaves, x_tree = tree_util.tree_flatten(xs)
    y_leaves, y_tree = tree_util.tree_flatten(ys)
    assert x_tree == y_tree, f"{err_msg}: tree structures {x_tree} and {y_tree} differ"
    for a, b in zip(x_leaves, y_leaves):
        _close(a, b, atol, rtol, err_msg)


def _map(f, *trees):
    leaves = [tree_util.tree_leaves(t) for t in trees]
    return tree_util.tree_unflatten(tree_util.tree_structure(trees[0]), [f(*xs) for xs in zip(*leaves)])


def _keep_type(f):
    def g(*xs):
        out = np.array(f(*[np.asarray(x) for x in xs]), dtype=_dtype(xs[0]))
        return out.item() if all(_is_py_scalar(x) for x in xs) else out
    return g


def _scale(xs, a):
    def mul(x):
        d = _dtype(x)
        r = np.multiply(np.asarray(x), np.array(a, dtype=d), dtype=d)
        return r.item() if _is_py_scalar(x) else r
    return _map(mul, xs)


def _safe_sub(x, y):
    x, y = np.asarray(x), np.asarray(y)
    with np.errstate(invalid="ignore"):
        return np.where(np.equal(x, y), np.array(0, x.dtype), np.subtract(x, y, dtype=x.dtype))


def _rand_like(rng, x):
    r = np.asarray(rng.randn(*np.shape(x)), dtype=_dtype(x))
    return r.item() if _is_py_scalar(x) else r


def _inner(xs, ys):
    return sum(float(np.dot(np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()))
               for x, y in zip(tree_util.tree_leaves(xs), tree_util.tree_leaves(ys)))


def numerical_jvp(f, primals, tangents, eps=EPS):
    """Central difference (f(x + eps t) - f(x - eps t)) / (2 eps), in the primals' dtypes."""
    delta = _scale(tangents, eps)
    f_pos = f(*_map(_keep_type(np.add), primals, delta))
    f_neg = f(*_map(_keep_type(np.subtract), primals, delta))
    return _scale(_map(_safe_sub, f_pos, f_neg), 0.5 / eps)


def check_jvp(f, f_jvp, args, atol=None, rtol=None, eps=EPS, err_msg=""):
    """Check f_jvp(args, tangent) against central differences along a random tangent."""
    atol = _merge(atol)
    rtol = _merge(rtol)
    rng = np.random.RandomState(0)
    tangent = _map(functools.partial(_rand_like, rng), args)
    v_out, t_out = f_jvp(args, tangent)
    _check_close(v_out, f(*args), atol, rtol, f"{err_msg} primal" if err_msg else "primal")
    _check_close(t_out, numerical_jvp(f, args, tangent, eps), atol, rtol,
                 f"{err_msg} tangent" if err_msg else "tangent")


def check_vjp(f, f_vjp, args, atol=None, rtol=None, eps=EPS, err_msg=""):
    """Check <t, vjp(c)> against <jvp_numerical(t), c> for random t and c."""
    atol = _merge(atol)
    rtol = _merge(rtol)
    rand = functools.partial(_rand_like, np.random.RandomState(0))
    v_out, vjp_fun = f_vjp(*args)
    _check_close(v_out, f(*args), atol, rtol, f"{err_msg} primal" if err_msg else "primal")
    tangent = _map(rand, args)
    tangent_out = numerical_jvp(f, args, tangent, eps)
    cotangent = _map(rand, v_out)
    ip = _inner(tangent, vjp_fun(cotangent))
    ip_expected = _inner(tangent_out, cotangent)
    _check_close(np.float32(ip), np.float32(ip_expected), atol, rtol,
                 f"{err_msg} cotangent projection" if err_msg else "cotangent projection")


def _merge(tol):
    if tol is None or isinstance(tol, dict):
        return {**_GRAD_TOL, **{np.dtype(k): v for k, v in (tol or {}).items()}}
    return tol


def _jvp_from_lin(f, primals, tangents):
    out, f_lin = linearize(f, *primals)
    return out, f_lin(*tangents)


def check_grads(f, args, order, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """Check f's derivatives up to `order` against finite differences, as jax.test_util.check_grads.

    modes: any of "fwd" (jvp), "rev" (vjp) and "lin" (linearize). Raises AssertionError
    on a mismatch.

    >>> import irgrad.numpy as jnp
    >>> check_grads(jnp.sin, (0.5,), order=2)
    """
    args = tuple(args)
    eps = eps or EPS

    def check(f, args, order, err_msg=""):
        if "fwd" in modes:
            msg = f"JVP of {err_msg}" if err_msg else "JVP"
            check_jvp(f, functools.partial(jvp, f), args, atol, rtol, eps, msg)
            if order > 1:
                check(functools.partial(jvp, f), (args, args), order - 1, msg)
        if "rev" in modes:
            msg = f"VJP of {err_msg}" if err_msg else "VJP"
            check_vjp(f, functools.partial(vjp, f), args, atol, rtol, eps, msg)
            if order > 1:
                def f_vjp(*a):
                    out, pullback = vjp(f, *a)
                    return pullback(out)
                check(f_vjp, args, order - 1, msg)
        if "lin" in modes:
            msg = f"LIN of {err_msg}" if err_msg else "LIN"
            check_jvp(f, functools.partial(_jvp_from_lin, f), args, atol, rtol, eps, msg)
            if order > 1:
                check(functools.partial(_jvp_from_lin, f), (args, args), order - 1, msg)

    check(f, args, order)
