"""irgrad.numpy: the jax.numpy functions regression and autodiff code uses.

Each function promotes dtypes as JAX does, then binds primitives; the same code
runs eagerly on NumPy outside a transformation and emits MLIR inside one.
"""

from __future__ import annotations

import builtins
import operator
from types import SimpleNamespace

import numpy as np

from . import dtypes
from .array import Array
from .core import NonConcreteBooleanIndexError, Tracer, aval_of, concrete_value, host_value, user_location
from .primitives import bind, broadcast_shapes
from .primitives import sort as _primitive_sort

float32, float64, float16 = np.float32, np.float64, np.float16
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint32, uint64 = np.uint8, np.uint32, np.uint64
bool_ = np.bool_
pi, e, inf, nan, euler_gamma = np.pi, np.e, np.inf, np.nan, np.euler_gamma
newaxis = None
ndarray = Array
dtype = np.dtype
finfo, iinfo = np.finfo, np.iinfo


# ------------------------------------------------------------------ conversion

def _is_array(x):
    return isinstance(x, (Array, Tracer))


def asarray(a, dtype=None):
    """Convert `a` to an irgrad array (no copy for arrays already of `dtype`).

    >>> asarray([1, 2]).dtype
    dtype('int32')
    """
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, dtype)
    if isinstance(a, Array) and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    if isinstance(a, (list, tuple)) and builtins.any(isinstance(x, Tracer) or
                                           (isinstance(x, (list, tuple)) and _has_tracer(x)) for x in a):
        return stack([asarray(x, dtype) for x in a])
    if isinstance(a, (list, tuple)):
        a = [host_value(x) if isinstance(x, Array) else x for x in a]
    dt, weak = dtypes.dtype_and_weak(a) if not isinstance(a, (list, tuple)) else _list_dtype(a)
    if dtype is not None:
        dt, weak = dtypes.canonicalize_dtype(dtype), False
    return Array(np.array(host_value(a), dtype=dt), weak_type=weak)


def _has_tracer(xs):
    return builtins.any(isinstance(x, Tracer) or (isinstance(x, (list, tuple)) and _has_tracer(x)) for x in xs)


def _list_dtype(a):
    arr = np.asarray(a)
    if arr.dtype == np.float64:
        return np.dtype(np.float32), False
    return dtypes.canonicalize_dtype(arr.dtype), False


def array(a, dtype=None, copy=True):
    """Like `jnp.array`: a new array from a scalar, list or array.

    >>> array([[1.0, 2.0], [3.0, 4.0]]).shape
    (2, 2)
    """
    return asarray(a, dtype)


def astype(x, dtype):
    dt = dtypes.canonicalize_dtype(dtype)
    if isinstance(x, Tracer):
        if x.dtype == dt and not x.weak_type:
            return x
        return bind("convert_element_type", x, new_dtype=dt, weak_type=False)
    return Array(dtypes.convert(host_value(x), dt))


def _convert(x, dt, weak):
    if isinstance(x, Tracer):
        if x.dtype == dt:
            return x
        return bind("convert_element_type", x, new_dtype=dt, weak_type=weak and x.weak_type)
    xd, xw = dtypes.dtype_and_weak(x)
    if xd == dt and isinstance(x, Array):
        return x
    return Array(dtypes.convert(host_value(x), dt), weak_type=xw)


def _promote(*args):
    pairs = [dtypes.dtype_and_weak(a) for a in args]
    dt, weak = dtypes.result_type(*pairs)
    return [_convert(a, dt, weak) for a in args]


def _check_arg(name, x):
    if isinstance(x, (Array, Tracer, np.ndarray, np.generic, int, float, bool)):
        return x
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{name} requires ndarray or scalar arguments, got {type(x).__name__} at position 0.")
    raise TypeError(f"{name}: unsupported operand type {type(x).__name__} at {user_location()}")


def _binary(prim, name):
    def op(x, y):
        x, y = _promote(_check_arg(name, x), _check_arg(name, y))
        return bind(prim, x, y)
    op.__name__ = name
    op.__doc__ = f"Elementwise `{name}` with NumPy broadcasting and JAX dtype promotion."
    return op


add = _binary("add", "add")
subtract = _binary("sub", "subtract")
multiply = _binary("mul", "multiply")
maximum = _binary("max", "maximum")
minimum = _binary("min", "minimum")
equal = _binary("eq", "equal")
not_equal = _binary("ne", "not_equal")
less = _binary("lt", "less")
less_equal = _binary("le", "less_equal")
greater = _binary("gt", "greater")
greater_equal = _binary("ge", "greater_equal")
bitwise_and = _binary("and", "bitwise_and")
bitwise_or = _binary("or", "bitwise_or")
bitwise_xor = _binary("xor", "bitwise_xor")


def left_shift(x, y):
    x, y = _promote_numeric(x, y)
    return bind("shift_left", x, y)


def right_shift(x, y):
    x, y = _promote_numeric(x, y)
    return bind("shift_right_logical" if x.dtype.kind == "u" else "shift_right_arithmetic", x, y)


def _float_operands(*xs):
    xs = _promote(*xs)
    dt, weak = dtypes.dtype_and_weak(xs[0])
    fdt, fweak = dtypes.float_result(dt, weak)
    return [_convert(x, fdt, fweak) for x in xs]


def true_divide(x, y):
    """x / y; integers are divided as floats, as in JAX."""
    x, y = _float_operands(x, y)
    return bind("div", x, y)


divide = true_divide


def _promote_numeric(*args):
    """_promote, then bool -> int32 (JAX's promote_args_numeric: 7 // True is an int)."""
    args = _promote(*args)
    if aval_of(args[0]).dtype == np.bool_:
        args = [astype(a, np.int32) for a in args]
    return args


def floor_divide(x, y):
    x, y = _promote_numeric(x, y)
    return bind("floor_divide", x, y)


def remainder(x, y):
    x, y = _promote_numeric(x, y)
    return bind("rem", x, y)


mod = remainder


def fmod(x, y):
    """C's fmod: the remainder of truncating division, with the sign of x (lax.rem).

    >>> fmod(array([7, -7]), 2)
    Array([ 1, -1], dtype=int32)
    """
    was_bool = dtypes.result_type(dtypes.dtype_and_weak(x), dtypes.dtype_and_weak(y))[0] == np.bool_
    x, y = _promote_numeric(x, y)
    if not dtypes.is_float(x.dtype) and not was_bool:   # JAX's quirk: fmod(True, False) is 1
        y = where(equal(y, 0), ones_like(y), y)   # as JAX: fmod(x, 0) = 0 for integers
    return bind("fmod", x, y)


def power(x, y):
    """x ** y. A Python int exponent is expanded into multiplications (JAX's
    integer_pow), anything else uses pow."""
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool) and not _is_array(y):
        x = _check_arg("power", x)
        if not _is_array(x):
            x = asarray(x) if not isinstance(x, float) else Array(np.float32(x), weak_type=True)
        if aval_of(x).dtype == np.bool_:
            x = astype(x, np.int32)   # as JAX: True ** 2 is an int32
        return bind("integer_pow", x, y=int(y))
    if dtypes.is_float(dtypes.dtype_and_weak(x)[0]) and dtypes.is_int(dtypes.dtype_and_weak(y)[0]):
        return _pow_int_exponent(x, y)
    x, y = _promote_numeric(x, y)
    if not dtypes.is_float(x.dtype):
        if isinstance(x, Tracer) or isinstance(y, Tracer):
            raise TypeError(f"power of integer arrays by a traced integer exponent is not supported "
                            f"at {user_location()}; use a Python int exponent or floats")
        return Array(np.power(host_value(x), host_value(y)).astype(x.dtype))
    return bind("pow", x, y)


def _pow_int_exponent(x, y):
    """x ** y for float x and an integer array y. JAX differentiates this case with its
    integer-exponent rule, d/dx = 0 where y == 0 (no 0 * 0 ** -1 = NaN at x == 0): a
    pow whose exponent is 1 where y == 0, whose result is then replaced by 1, gives the
    same first derivative. The base is 1 there too, so that no derivative of any order
    of that unselected pow reads 0 ** -1 (forward over reverse gave 0 * inf = NaN)."""
    is_zero = equal(y, 0)
    x, safe_y = _promote(x, where(is_zero, 1, y))
    return where(is_zero, 1, bind("pow", where(is_zero, 1, x), safe_y))


def float_power(x, y):
    return power(*_float_operands(x, y))


def _unary(prim, name, float_only=True):
    def op(x):
        x = _check_arg(name, x)
        if float_only:
            (x,) = _float_operands(x)
        elif not _is_array(x):
            x = asarray(x) if not isinstance(x, float) else Array(np.float32(x), weak_type=True)
        return bind(prim, x)
    op.__name__ = name
    op.__doc__ = f"Elementwise `{name}`, as `jax.numpy.{name}`."
    return op


exp, exp2, log, log2, log10 = (_unary(n, n) for n in ("exp", "exp2", "log", "log2", "log10"))
log1p, expm1, sqrt, cbrt, tanh = (_unary(n, n) for n in ("log1p", "expm1", "sqrt", "cbrt", "tanh"))
sin, cos, tan, sinh, cosh = (_unary(n, n) for n in ("sin", "cos", "tan", "sinh", "cosh"))
arctan, arcsin, arccos = _unary("arctan", "arctan"), _unary("arcsin", "arcsin"), _unary("arccos", "arccos")
arcsinh, arccosh, arctanh = _unary("arcsinh", "arcsinh"), _unary("arccosh", "arccosh"), _unary("arctanh", "arctanh")
def _identity_for(kinds, op):
    """`op`, except that arrays whose dtype kind is in `kinds` come back unchanged (as JAX's
    floor of an int, or abs of an unsigned int)."""
    def f(x):
        x = _check_arg(op.__name__, x)
        if dtypes.dtype_and_weak(x)[0].kind in kinds and not isinstance(x, (int, float)):
            return asarray(x)
        return op(x)
    f.__name__, f.__doc__ = op.__name__, op.__doc__
    return f


floor, ceil, trunc = (_identity_for("iub", _unary(n, n)) for n in ("floor", "ceil", "trunc"))
negative = _unary("neg", "negative", float_only=False)
abs = absolute = _identity_for("ub", _unary("abs", "abs", float_only=False))
sign = _unary("sign", "sign", float_only=False)
rsqrt = _unary("rsqrt", "rsqrt")


def round(x, decimals=0):
    kind = dtypes.dtype_and_weak(_check_arg("round", x))[0].kind
    if kind == "b":
        raise ValueError("data type <class 'numpy.bool'> not inexact")   # JAX's error
    if kind in "iu" and not isinstance(x, int):
        return asarray(x)
    (x,) = _float_operands(x)
    if decimals == 0:
        return bind("round", x)
    f = 10.0 ** decimals
    return true_divide(bind("round", multiply(x, f)), f)


around = round


def arctan2(y, x):
    y, x = _float_operands(y, x)
    return bind("atan2", y, x)


def square(x):
    return power(x, 2)


def reciprocal(x):
    return true_divide(1.0 if dtypes.is_float(aval_of(x).dtype) else 1, x)


def positive(x):
    return asarray(x)


def logical_not(x):
    return bind("not", astype(x, np.bool_) if aval_of(x).dtype != np.bool_ else x)


def invert(x):
    return bind("not", x if _is_array(x) else asarray(x))


bitwise_not = invert


def logical_and(x, y):
    return bitwise_and(astype(x, bool_), astype(y, bool_))


def logical_or(x, y):
    return bitwise_or(astype(x, bool_), astype(y, bool_))


def logical_xor(x, y):
    return bitwise_xor(astype(x, bool_), astype(y, bool_))


def isnan(x):
    return not_equal(x, x)


def isinf(x):
    return equal(abs(x), inf)


def isfinite(x):
    return logical_not(logical_or(isnan(x), isinf(x)))


def where(condition, x=None, y=None):
    """Choose elementwise from x where `condition` holds, else from y.

    >>> where(array([True, False]), 1.0, 2.0)
    Array([1., 2.], dtype=float32)
    """
    if x is None or y is None:
        raise TypeError("irgrad.numpy.where with one argument (nonzero) is not supported; pass x and y")
    c = condition if aval_of(condition).dtype == np.bool_ else not_equal(condition, 0)
    x, y = _promote(x, y)
    return bind("select", c, x, y)


def clip(a, a_min=None, a_max=None, *, min=None, max=None):
    """Clip like JAX: minimum(maximum(a, a_min), a_max)."""
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    if lo is not None:
        a = maximum(a, lo)
    if hi is not None:
        a = minimum(a, hi)
    return a


def logaddexp(x, y):
    x, y = _float_operands(x, y)
    amax = maximum(x, y)
    return add(amax, log1p(exp(negative(abs(subtract(x, y))))))


# ------------------------------------------------------------------- creation

def _dtype_or(dtype, default):
    return dtypes.canonicalize_dtype(dtype if dtype is not None else default)


def _shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def zeros(shape, dtype=None):
    """An array of zeros (float32 by default).

    >>> zeros((2,))
    Array([0., 0.], dtype=float32)
    """
    return Array(np.zeros(_shape(shape), _dtype_or(dtype, float32)))


def ones(shape, dtype=None):
    return Array(np.ones(_shape(shape), _dtype_or(dtype, float32)))


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with `fill_value` (its dtype unless `dtype`)."""
    if _is_array(fill_value):
        return broadcast_to(asarray(fill_value, dtype), _shape(shape))
    dt = _dtype_or(dtype, dtypes.dtype_and_weak(fill_value)[0])
    return Array(np.full(_shape(shape), fill_value, dt))


def zeros_like(a, dtype=None, shape=None):
    av = aval_of(a)
    return zeros(av.shape if shape is None else shape, dtype or av.dtype)


def ones_like(a, dtype=None, shape=None):
    av = aval_of(a)
    return ones(av.shape if shape is None else shape, dtype or av.dtype)


def full_like(a, fill_value, dtype=None, shape=None):
    av = aval_of(a)
    return full(av.shape if shape is None else shape, fill_value, dtype or av.dtype)


def empty_like(a, dtype=None, shape=None):
    return zeros_like(a, dtype, shape)


def arange(start, stop=None, step=None, dtype=None):
    """Like `jnp.arange`: int32 for int arguments, float32 otherwise.

    >>> arange(3)
    Array([0, 1, 2], dtype=int32)
    """
    for v in (start, stop, step):
        if isinstance(v, Tracer):
            raise TypeError(f"arange needs concrete bounds, got a traced value at {user_location()}")
    args = [host_value(v) for v in (start, stop, step) if v is not None]
    res = np.arange(*args)
    dt = dtype or (np.int32 if res.dtype.kind in "iu" else np.float32)
    if dtype is None and res.dtype.kind == "f":
        res = np.arange(*[np.float32(a) for a in args], dtype=np.float32)
    return Array(res.astype(dtypes.canonicalize_dtype(dt)))


def linspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """`num` evenly spaced samples over [start, stop], computed as JAX does."""
    dt = _dtype_or(dtype, float32)
    start, stop = np.asarray(host_value(start), np.float64), np.asarray(host_value(stop), np.float64)
    return Array(np.linspace(start, stop, num, endpoint=endpoint, axis=axis).astype(dt))


def eye(N, M=None, k=0, dtype=None):
    return Array(np.eye(N, M, k, dtype=_dtype_or(dtype, float32)))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    return Array(np.tri(N, M, k, dtype=_dtype_or(dtype, float32)))


# ------------------------------------------------------------------- reductions

def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for array of dimension {ndim}")
        out.append(a % builtins.max(ndim, 1) if ndim else 0)
    return tuple(sorted(set(out)))


def _keep(r, shape, axes, keepdims):
    if not keepdims:
        return r
    return reshape(r, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _reduce(prim, a, axis, keepdims):
    a = a if _is_array(a) else asarray(a)
    axes = _axes(axis, a.ndim)
    r = bind(prim, a, axes=axes)
    return _keep(r, a.shape, axes, keepdims)


def sum(a, axis=None, dtype=None, keepdims=False):
    """Sum over `axis` (all axes by default); bools and small ints sum as int32.

    >>> sum(array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    Array([4., 6.], dtype=float32)
    """
    a = a if _is_array(a) else asarray(a)
    if dtype is not None:
        a = astype(a, dtype)
    elif a.dtype == np.bool_ or (a.dtype.kind in "iu" and a.dtype.itemsize < 4):
        a = astype(a, np.int32 if a.dtype.kind != "u" else np.uint32)
    return _reduce("reduce_sum", a, axis, keepdims)


def prod(a, axis=None, dtype=None, keepdims=False):
    a = a if _is_array(a) else asarray(a)
    if dtype is not None:
        a = astype(a, dtype)
    elif a.dtype == np.bool_:
        a = astype(a, np.int32)
    return _reduce("reduce_prod", a, axis, keepdims)


def _nonempty(a, axis, what):
    """JAX's ValueError for a max / min / argmax / argmin over a zero-size axis (which has no
    identity), raised at trace time too, so jit never returns lax.reduce_max's -inf."""
    a = a if _is_array(a) else asarray(a)
    if builtins.any(a.shape[i] == 0 for i in _axes(axis, a.ndim)):
        if what.startswith("arg"):
            raise ValueError(f"attempt to get {what} of an empty sequence")
        raise ValueError(f"zero-size array to reduction operation {what} which has no identity")
    return a


def max(a, axis=None, keepdims=False):
    """The largest element over `axis` (all axes by default); an empty axis is an error.

    >>> max(array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    Array([5., 3.], dtype=float32)
    """
    return _reduce("reduce_max", _nonempty(a, axis, "max"), axis, keepdims)


def min(a, axis=None, keepdims=False):
    return _reduce("reduce_min", _nonempty(a, axis, "min"), axis, keepdims)


amax, amin = max, min


def all(a, axis=None, keepdims=False):
    return _reduce("reduce_min", astype(a, bool_), axis, keepdims)


def any(a, axis=None, keepdims=False):
    return _reduce("reduce_max", astype(a, bool_), axis, keepdims)


def mean(a, axis=None, dtype=None, keepdims=False):
    """Arithmetic mean over `axis`; integers average as float32, as in JAX."""
    a = a if _is_array(a) else asarray(a)
    axes = _axes(axis, a.ndim)
    n = int(np.prod([a.shape[i] for i in axes], dtype=np.int64))
    dt, weak = dtypes.float_result(*dtypes.dtype_and_weak(a), reduction=True)
    s = sum(_convert(a, dt, weak) if dtype is None else astype(a, dtype), axis=axes, keepdims=keepdims)
    return true_divide(s, Array(np.asarray(n, aval_of(s).dtype)))  # a strong count: mean is never weak


def _count(n, like):
    """The element count `n` as a constant of `like`'s dtype and weak type."""
    av = aval_of(like)
    return Array(np.asarray(n, av.dtype), weak_type=av.weak_type)


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    a = a if _is_array(a) else asarray(a)
    axes = _axes(axis, a.ndim)
    m = mean(a, axis=axes, keepdims=True)
    d = subtract(a, m) if dtypes.is_float(a.dtype) else subtract(astype(a, float32), m)
    n = int(np.prod([a.shape[i] for i in axes], dtype=np.int64)) - ddof
    return true_divide(sum(multiply(d, d), axis=axes, keepdims=keepdims), _count(n, d))


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return sqrt(var(a, axis, dtype, ddof, keepdims))


def _argext(prim, a, axis, keepdims):
    a = a if _is_array(a) else asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axes(axis, a.ndim)[0]
    r = bind(prim, a, axis=axis, index_dtype=np.dtype(np.int32))
    return _keep(r, a.shape, (axis,), keepdims)


def argmax(a, axis=None, keepdims=False):
    return _argext("argmax", _nonempty(a, axis, "argmax"), axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    return _argext("argmin", _nonempty(a, axis, "argmin"), axis, keepdims)


def cumsum(a, axis=None, dtype=None):
    """Cumulative sum as a triangular matrix product along `axis`."""
    a = a if _is_array(a) else asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axes(axis, a.ndim)[0]
    if dtype is not None:
        a = astype(a, dtype)
    elif a.dtype == np.bool_:
        a = astype(a, np.int32)   # as JAX
    n = a.shape[axis]
    upper = Array(np.triu(np.ones((n, n), a.dtype)))
    moved = moveaxis(a, axis, -1)
    return moveaxis(matmul(moved, upper), -1, axis)


def _sort_axis(a, axis, kind, order, what):
    if kind is not None:
        raise TypeError(f"'kind' argument to {what} is not supported. Use stable=True or stable=False to specify "
                        "sort stability.")
    if order is not None:
        raise TypeError(f"'order' argument to {what} is not supported.")
    a = a if _is_array(a) else asarray(a)
    if axis is None:
        return ravel(a), 0
    if a.ndim == 0:
        raise ValueError(f"axis {axis} is out of bounds for array of dimension 0")
    return a, _axes(axis, a.ndim)[0]


def sort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """A sorted copy of `a` along `axis` (None: flattened), as lax.sort orders it:
    -0.0 == 0.0 and NaNs last. Always stable. O(n^2) in the sorted length under a
    trace (see primitives.sort).

    >>> sort(array([1, 3, 5, 4, 2, 1]))
    Array([1, 1, 2, 3, 4, 5], dtype=int32)
    """
    a, axis = _sort_axis(a, axis, kind, order, "sort")
    out = _primitive_sort(a, dimension=axis)[0]
    return bind("rev", out, axes=(axis,)) if descending else out


def argsort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False, dtype=None):
    """Indices that sort `a` along `axis` (ties keep their order, also when descending).

    >>> argsort(array([1, 3, 5, 4, 2, 1]))
    Array([0, 5, 4, 1, 3, 2], dtype=int32)
    """
    a, axis = _sort_axis(a, axis, kind, order, "argsort")
    idx_dtype = np.dtype(np.int32) if dtype is None else dtypes.canonicalize_dtype(dtype)
    iota = bind("iota", shape=a.shape, dimension=axis, dtype=idx_dtype)
    if descending:   # reversed first, so that equal elements keep their order
        a, iota = bind("rev", a, axes=(axis,)), bind("rev", iota, axes=(axis,))
    indices = _primitive_sort(a, iota, dimension=axis)[1]
    return bind("rev", indices, axes=(axis,)) if descending else indices


# ----------------------------------------------------------------- linear algebra

def _dot_general(a, b, contract, batch):
    a, b = _promote(a if _is_array(a) else asarray(a), b if _is_array(b) else asarray(b))
    return bind("dot_general", a, b, contract=contract, batch=batch)


def matmul(a, b):
    """Matrix product with NumPy's rules for 1-D operands and batch broadcasting.

    >>> matmul(array([[1.0, 2.0]]), array([[3.0], [4.0]]))
    Array([[11.]], dtype=float32)
    """
    a, b = (x if _is_array(x) else asarray(x) for x in (a, b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must not be scalars (use multiply)")
    if a.ndim == 1 and b.ndim == 1:
        return _dot_general(a, b, ((0,), (0,)), ((), ()))
    if a.ndim == 1:
        r = matmul(reshape(a, (1, a.shape[0])), b)
        return reshape(r, r.shape[:-2] + r.shape[-1:])
    if b.ndim == 1:
        r = matmul(a, reshape(b, (b.shape[0], 1)))
        return reshape(r, r.shape[:-1])
    if a.shape[-1] != b.shape[-2]:
        raise TypeError(f"matmul: contracting dimensions differ: a has shape {a.shape} and b has shape "
                        f"{b.shape} ({a.shape[-1]} != {b.shape[-2]}) at {user_location()}")
    batch = broadcast_shapes("matmul", aval_of(a).__class__(a.shape[:-2], a.dtype),
                             aval_of(b).__class__(b.shape[:-2], b.dtype))
    if a.ndim == 2 and b.ndim == 2:
        return _dot_general(a, b, ((1,), (0,)), ((), ()))
    a = broadcast_to(a, batch + a.shape[-2:])
    b = broadcast_to(b, batch + b.shape[-2:])
    nb = len(batch)
    return _dot_general(a, b, ((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb))))


def dot(a, b):
    """NumPy's dot: scalars multiply, 1-D vectors contract, otherwise the last axis
    of `a` with the second-to-last of `b`."""
    a, b = (x if _is_array(x) else asarray(x) for x in (a, b))
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if b.ndim == 1 or a.ndim == 1 or (a.ndim == 2 and b.ndim == 2):
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise TypeError(f"dot: shapes {a.shape} and {b.shape} are not aligned at {user_location()}")
        return _dot_general(a, b, ((a.ndim - 1,), (0 if b.ndim == 1 else b.ndim - 2,)), ((), ()))
    return _dot_general(a, b, ((a.ndim - 1,), (b.ndim - 2,)), ((), ()))


def vdot(a, b):
    return dot(ravel(a), ravel(b))


def inner(a, b):
    a, b = (x if _is_array(x) else asarray(x) for x in (a, b))
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return _dot_general(a, b, ((a.ndim - 1,), (b.ndim - 1,)), ((), ()))


def outer(a, b):
    a, b = ravel(a), ravel(b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def tensordot(a, b, axes=2):
    a, b = (x if _is_array(x) else asarray(x) for x in (a, b))
    if isinstance(axes, int):
        ca, cb = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        ca, cb = (tuple(x) if not isinstance(x, int) else (x,) for x in axes)
    return _dot_general(a, b, (ca, cb), ((), ()))


def trace(a, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal: sum(a * eye) over the two axes (its adjoint is a * eye too)."""
    a = a if _is_array(a) else asarray(a)
    n, m = a.shape[axis1], a.shape[axis2]
    mask_shape = [1] * a.ndim
    mask_shape[axis1], mask_shape[axis2] = n, m
    mask = Array(np.eye(n, m, offset, dtype=a.dtype).reshape(mask_shape))
    return sum(multiply(a, mask), axis=(axis1, axis2))


def diagonal(a, offset=0, axis1=0, axis2=1):
    a = a if _is_array(a) else asarray(a)
    if a.ndim != 2 or (axis1, axis2) != (0, 1):
        raise NotImplementedError("diagonal is implemented for 2-D arrays")
    n, m = a.shape
    mask = Array(np.eye(n, m, offset, dtype=a.dtype))
    full_ = sum(multiply(a, mask), axis=1 if offset >= 0 else 0)
    k = builtins.min(n, m - offset) if offset >= 0 else builtins.min(n + offset, m)
    start = 0 if offset >= 0 else -offset
    return full_[start:start + k]


# ------------------------------------------------------------------- shapes

def reshape(a, newshape=None, order="C", *, shape=None):
    """Reshape; one dimension may be -1."""
    newshape = shape if shape is not None else newshape
    a = a if _is_array(a) else asarray(a)
    newshape = (newshape,) if isinstance(newshape, (int, np.integer)) else tuple(int(s) for s in newshape)
    if newshape.count(-1) == 1:
        known = int(np.prod([s for s in newshape if s != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise TypeError(f"cannot reshape array of shape {a.shape} (size {a.size}) into shape {newshape} "
                            f"at {user_location()}")
        newshape = tuple(a.size // known if s == -1 else s for s in newshape)
    if newshape == a.shape:
        return a
    return bind("reshape", a, shape=newshape)


def ravel(a):
    a = a if _is_array(a) else asarray(a)
    return reshape(a, (a.size,))


def transpose(a, axes=None):
    a = a if _is_array(a) else asarray(a)
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(operator.index(x) % a.ndim for x in axes)
    if sorted(perm) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {a.ndim} dimensions")
    if perm == tuple(range(a.ndim)):
        return a
    return bind("transpose", a, perm=perm)


def swapaxes(a, axis1, axis2):
    a = a if _is_array(a) else asarray(a)
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(a, perm)


def moveaxis(a, source, destination):
    a = a if _is_array(a) else asarray(a)
    src, dst = source % a.ndim, destination % a.ndim
    perm = [i for i in range(a.ndim) if i != src]
    perm.insert(dst, src)
    return transpose(a, perm)


def expand_dims(a, axis):
    a = a if _is_array(a) else asarray(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = a.ndim + len(axes)
    axes = sorted(x % nd for x in axes)
    shape = list(a.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return reshape(a, shape)


def squeeze(a, axis=None):
    a = a if _is_array(a) else asarray(a)
    if axis is None:
        axes = [i for i, n in enumerate(a.shape) if n == 1]
    else:
        axes = [x % a.ndim for x in ((axis,) if isinstance(axis, int) else axis)]
        for x in axes:
            if a.shape[x] != 1:
                raise ValueError(f"cannot select an axis to squeeze out which has size not equal to one, "
                                 f"got shape={a.shape} and dimensions={tuple(axes)}")
    return reshape(a, [n for i, n in enumerate(a.shape) if i not in axes])


def broadcast_to(a, shape):
    a = a if _is_array(a) else asarray(a)
    shape = _shape(shape)
    if a.shape == shape:
        return a
    if len(shape) < a.ndim:
        raise ValueError(f"Cannot broadcast array of shape {a.shape} to shape {shape}")
    dims = tuple(range(len(shape) - a.ndim, len(shape)))
    return bind("broadcast_in_dim", a, shape=shape, dims=dims)


def broadcast_arrays(*args):
    shape = broadcast_shapes("broadcast_arrays", *[aval_of(a) for a in args])
    return [broadcast_to(a, shape) for a in args]


def concatenate(arrays, axis=0):
    """Join arrays along an existing axis.

    >>> concatenate([zeros(2), ones(1)])
    Array([0., 0., 1.], dtype=float32)
    """
    arrays = _promote(*[a if _is_array(a) else asarray(a) for a in arrays])
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    axis = axis % arrays[0].ndim
    return bind("concatenate", *arrays, axis=axis)


def stack(arrays, axis=0):
    arrays = [a if _is_array(a) else asarray(a) for a in arrays]
    nd = arrays[0].ndim + 1
    return concatenate([expand_dims(a, axis % nd) for a in arrays], axis=axis % nd)


def hstack(arrays):
    arrays = [a if _is_array(a) else asarray(a) for a in arrays]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def atleast_1d(a):
    a = a if _is_array(a) else asarray(a)
    return reshape(a, (1,)) if a.ndim == 0 else a


def atleast_2d(a):
    a = atleast_1d(a)
    return reshape(a, (1,) + a.shape) if a.ndim == 1 else a


def flip(a, axis=None):
    a = a if _is_array(a) else asarray(a)
    axes = tuple(range(a.ndim)) if axis is None else _axes(axis, a.ndim)
    return bind("rev", a, axes=axes)


def shape(a):
    return aval_of(a).shape


def ndim(a):
    return aval_of(a).ndim


def size(a):
    return aval_of(a).size


def result_type(*args):
    return dtypes.result_type(*[dtypes.dtype_and_weak(a) for a in args], normalize_weak=True)[0]


# ------------------------------------------------------------------- indexing

def _getitem(a, idx):
    """Indexing: ints, slices (any step), None and Ellipsis; plus one boolean-mask or
    integer-array index (see `_advanced_getitem`)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    for i in idx:
        _check_indexer(i)
    if builtins.any(_is_advanced(i) for i in idx):
        if not isinstance(a, Tracer) and not builtins.any(isinstance(i, Tracer) for i in idx):
            return Array(np.asarray(host_value(a))[_clamped_host_index(idx, a.shape)], weak_type=a.weak_type)
        idx = _expand_ellipsis(idx, a.ndim)
        bools = [k for k, i in enumerate(idx) if isinstance(i, (bool, np.bool_))]
        advanced = [k for k, i in enumerate(idx) if _is_advanced(i)]
        if len(bools) == 1 and len(advanced) == 1:
            return _getitem_bool_scalar(a, idx, bools[0])
        if len(advanced) > 1 and builtins.all(ndim(idx[k]) == 0 and k not in bools for k in advanced):
            return _getitem_scalars(a, idx, advanced[-1])
        return _advanced_getitem(a, idx)
    n_real = builtins.sum(1 for i in idx if i is not None and i is not Ellipsis)
    if builtins.sum(1 for i in idx if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > a.ndim:
        raise IndexError(f"Too many indices: {a.ndim}-dimensional array indexed with {n_real} regular indices.")
    expanded = []
    for i in idx:
        if i is Ellipsis:
            expanded.extend([slice(None)] * (a.ndim - n_real))
        else:
            expanded.append(i)
    if not builtins.any(i is Ellipsis for i in idx):
        expanded.extend([slice(None)] * (a.ndim - n_real))
    start, limit, strides, rev_axes, out_shape = [], [], [], [], []
    dim = 0
    for i in expanded:
        if i is None:
            out_shape.append(1)
            continue
        n = a.shape[dim]
        if isinstance(i, slice):
            lo, hi, st = i.indices(n)
            count = len(range(lo, hi, st))
            if count == 0:
                lo, st = 0, 1       # an empty slice: MLIR rejects an offset equal to the size
            if st < 0:
                rev_axes.append(dim)
                lo = n - 1 - lo
                st = -st
            start.append(lo)
            limit.append(builtins.min(n, lo + builtins.max(count - 1, 0) * st + 1) if count else lo)
            strides.append(st)
            out_shape.append(count)
        else:
            k = _clamp_index(operator.index(i), n, dim)
            start.append(k)
            limit.append(k + 1)
            strides.append(1)
        dim += 1
    if rev_axes:
        a = bind("rev", a, axes=tuple(rev_axes))
    if start != [0] * a.ndim or limit != list(a.shape) or strides != [1] * a.ndim:
        a = bind("slice", a, start=tuple(start), limit=tuple(limit), strides=tuple(strides))
    return reshape(a, tuple(out_shape))


_GATHER_MAX_RUNS = 16   # contiguous runs gathered as slices; more (float arrays) use a one-hot matmul
_ARRAY_OPS = SimpleNamespace(astype=astype, where=where, clip=clip)   # np's names, on irgrad arrays


def _clamp_index(i, n: int, axis: int = 0):
    """JAX's rule for an integer index `i` into an axis of size `n`, on every indexing
    path: a negative index wraps once (i + n), then the index clamps to [0, n - 1].
    `i` is a Python int (gives an int), a NumPy array (gives int32 NumPy) or an irgrad
    array or tracer (gives int32, computed in the trace).

    >>> _clamp_index(np.array([-5, -1, 0, 7]), 3)
    array([0, 2, 0, 2], dtype=int32)
    """
    if isinstance(i, (int, np.integer)):
        return int(_clamp_index(np.asarray(i), n, axis))
    if n == 0 and size(i):      # nothing to clamp to; JAX's error types
        error = IndexError if ndim(i) == 0 else TypeError
        raise error(f"index is out of bounds for axis {axis} with size 0")
    xp = _ARRAY_OPS if _is_array(i) else np
    dt = np.dtype(aval_of(i).dtype)
    if dt.itemsize < 4:         # so that i + n and n - 1 fit
        i = xp.astype(i, np.int32)
    if dt.kind == "i":
        i = xp.where(i < 0, i + n, i)
    return xp.astype(xp.clip(i, 0, builtins.max(n - 1, 0)), np.int32)


def _in_range(i, n: int):
    """Whether each index is in [-n, n): in range once a negative index wraps."""
    return logical_and(i >= -n, i < n) if _is_array(i) else (i >= -n) & (i < n)


def _drop_out_of_range_cotangents(taken, ix, n: int):
    """JAX gathers an integer-array index with clamped values but transposes the gather
    into XLA's scatter-add, which drops updates out of range: so the rows of `taken`
    (row k from index k) whose index is out of range keep their value and get no
    cotangent. (A scalar index is a dynamic slice in JAX: its cotangent is clamped.)"""
    if not dtypes.is_float(taken.dtype) or (not _is_array(ix) and np.all(_in_range(ix, n))):
        return taken
    ok = reshape(_in_range(ravel(ix) if _is_array(ix) else ix.ravel(), n), (-1,) + (1,) * (taken.ndim - 1))
    return where(ok, taken, bind("stop_gradient", taken))


def _check_indexer(i):
    """JAX's TypeError for an index entry that is not an integer, a boolean, a slice,
    None or Ellipsis (a float is never truncated to an integer)."""
    if i is None or i is Ellipsis or isinstance(i, slice):
        return
    dt = _index_dtype(i)
    if not dtypes.is_int(dt) and dt != np.bool_:
        raise TypeError(f"Indexer must have integer or boolean type, got indexer with type {dt}")


def _axes_indexed(i):
    """How many axes of the indexed array an index entry consumes."""
    if i is None or i is Ellipsis:
        return 0
    return np.ndim(i) if not isinstance(i, slice) and _index_dtype(i) == np.bool_ else 1


def _clamped_host_index(idx, shape):
    """A concrete index tuple for NumPy, each integer entry clamped on its axis."""
    idx = [host_value(i) if _is_array(i) else i for i in idx]
    used = builtins.sum(_axes_indexed(i) for i in idx)
    out, axis = [], 0
    for i in idx:
        if i is Ellipsis:
            axis += len(shape) - used
        elif not isinstance(i, slice) and i is not None and dtypes.is_int(_index_dtype(i)) and axis < len(shape):
            i = _clamp_index(i if isinstance(i, (int, np.integer)) else np.asarray(i), shape[axis], axis)
        out.append(i)
        axis += _axes_indexed(i)
    return tuple(out)


def _expand_ellipsis(idx, ndim):
    """`idx` with its Ellipsis replaced by the full slices it stands for."""
    if not builtins.any(i is Ellipsis for i in idx):
        return idx
    k = [j for j, i in enumerate(idx) if i is Ellipsis][0]
    fill = ndim - builtins.sum(_axes_indexed(i) for i in idx)
    return idx[:k] + (slice(None),) * builtins.max(fill, 0) + idx[k + 1:]


def _getitem_scalars(a, idx, k):
    """`a[idx]` (no Ellipsis) whose advanced entries are all 0-d integers (traced): the
    last one, idx[k], indexes its axis first; the axes before it keep their place."""
    axis = builtins.sum(1 for i in idx[:k] if i is not None)
    return _getitem(_getitem(a, (slice(None),) * axis + (idx[k],)), idx[:k] + idx[k + 1:])


def _getitem_bool_scalar(a, idx, k):
    """`a[idx]` (no Ellipsis) whose only advanced entry is the scalar bool idx[k]: a new
    axis there, of length 1 (True) or 0 (False), as in NumPy and JAX."""
    out = _getitem(a, idx[:k] + (None,) + idx[k + 1:])
    if idx[k]:
        return out
    axis = builtins.sum(1 for i in idx[:k] if i is None or isinstance(i, slice))
    return _getitem(out, (slice(None),) * axis + (slice(0, 0),))


def _is_advanced(i):
    """A boolean-mask or integer-array index (NumPy's "advanced" indexing). A scalar
    bool is a 0-d mask: a new axis of length 1 (True) or 0 (False)."""
    if isinstance(i, (list, np.ndarray, bool, np.bool_)):
        return True
    if isinstance(i, Tracer) and concrete_value(i) is None:      # a traced integer: a gather too
        return True
    return _is_array(i) and (aval_of(i).ndim > 0 or aval_of(i).dtype == np.bool_)


def _index_dtype(i):
    return aval_of(i).dtype if _is_array(i) else np.asarray(i).dtype


def _advanced_getitem(a, idx):
    """`a[..., ix, ...]` with one boolean mask or integer array `ix` whose preceding indices
    are full slices. A concrete `ix` (NumPy, irgrad.Array, or a tracer with a concrete value
    under bare grad -- reading it ties the trace to this index) becomes a static gather:
    contiguous runs of selected rows are sliced and concatenated, so the gradient is a
    scatter-add built from slices and pads. Under jit an integer `ix` is gathered with a
    one-hot matmul; a boolean mask is refused (the result's shape would depend on values).
    Integer indices follow JAX on both paths: values clamp (`_clamp_index`), and an
    out-of-range entry of an index array gets no cotangent (`_drop_out_of_range_cotangents`).

    >>> x = arange(5.0)
    >>> x[x > 2.0]
    Array([3., 4.], dtype=float32)
    """
    a = a if _is_array(a) else asarray(a)
    pos = [k for k, i in enumerate(idx) if _is_advanced(i)]
    p = pos[0]
    if len(pos) > 1 or builtins.any(not (isinstance(i, slice) and i == slice(None)) for i in idx[:p]):
        raise TypeError(f"irgrad supports one boolean or integer array index, preceded only by ':' "
                        f"(at {user_location()})")
    ix = idx[p]
    is_mask = _index_dtype(ix) == np.bool_
    m = aval_of(ix).ndim if is_mask else 1
    if len(idx) > p + 1:
        a = _getitem(a, (slice(None),) * (p + m) + tuple(idx[p + 1:]))
    host = _static_index(ix)
    if is_mask and host is None:
        raise NonConcreteBooleanIndexError(
            f"Array boolean indices must be concrete; got {aval_of(ix)!r}\nThe error occurred at "
            f"{user_location()}. Use jnp.where(mask, x, 0) (or a static mask) under jit.")
    rest = a.shape[:p] + a.shape[p + m:]
    front = transpose(a, list(range(p, p + m)) + list(range(p)) + list(range(p + m, a.ndim)))
    front = reshape(front, (int(np.prod(a.shape[p:p + m], dtype=np.int64)),) + rest)
    if host is None:
        taken, ishape = _take_traced(front, _clamp_index(ix, a.shape[p], p)), aval_of(ix).shape
    elif is_mask:
        if host.shape != a.shape[p:p + m]:
            raise IndexError(f"boolean index did not match shape of indexed array in index {p}: "
                             f"got {host.shape}, expected {a.shape[p:p + m]}")
        flat = np.flatnonzero(host)
        taken, ishape = _take_static(front, flat), (flat.size,)
    else:
        taken, ishape = _take_static(front, _clamp_index(host, a.shape[p], p).ravel()), host.shape
    if not is_mask and len(ishape):
        taken = _drop_out_of_range_cotangents(taken, ix if host is None else host, a.shape[p])
    out = reshape(taken, ishape + rest)
    k = len(ishape)
    return transpose(out, list(range(k, k + p)) + list(range(k)) + list(range(k + p, out.ndim)))


def _static_index(ix):
    """NumPy value of a concrete index, or None for one traced by jit."""
    if isinstance(ix, Tracer):
        return None if ix.concrete is None else np.asarray(host_value(ix))
    return np.asarray(host_value(ix) if _is_array(ix) else ix)


def _take_static(a, rows):
    """`a[rows]` along axis 0 for static `rows` (1-D ints in range, see `_clamp_index`)."""
    if rows.size == 0:
        return zeros((0,) + a.shape[1:], a.dtype)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    runs = [(int(r[0]), int(r[-1]) + 1) for r in np.split(rows, breaks)]
    if len(runs) > _GATHER_MAX_RUNS and dtypes.is_float(a.dtype):
        onehot = np.zeros((rows.size, a.shape[0]), a.dtype)
        onehot[np.arange(rows.size), rows] = 1
        flat = reshape(a, (a.shape[0], -1))
        return reshape(matmul(onehot, flat), (rows.size,) + a.shape[1:])
    parts = [a if (lo, hi) == (0, a.shape[0]) else _getitem(a, slice(lo, hi)) for lo, hi in runs]
    return parts[0] if len(parts) == 1 else concatenate(parts, axis=0)


def _take_traced(a, ix):
    """`a[ix]` along axis 0 for traced integers `ix` in range (see `_clamp_index`): a
    one-hot matmul, differentiable in `a` (the cotangent goes to the row taken)."""
    n = a.shape[0]
    flat = ravel(ix)
    onehot = astype(expand_dims(flat, 1) == arange(n), a.dtype)
    return matmul(onehot, reshape(a, (n, -1)))


_TAKE_FILL = {"f": np.nan, "c": complex(np.nan, np.nan), "b": True}


def _take_fill(dtype, fill_value):
    """jnp.take's default fill: NaN for inexact dtypes, the most negative signed or the
    largest unsigned integer, True for bool."""
    if fill_value is not None:
        return np.array(fill_value, dtype)
    if dtype.kind in "iu":
        return np.array(np.iinfo(dtype).min if dtype.kind == "i" else np.iinfo(dtype).max, dtype)
    return np.array(_TAKE_FILL[dtype.kind], dtype)


def take(a, indices, axis=None, out=None, mode=None, unique_indices=False, indices_are_sorted=False,
         fill_value=None):
    """`a` at integer `indices` along `axis` (of the flattened `a` for axis=None), with
    JAX's modes for out-of-range indices: "fill" (the default: `fill_value`, by default
    NaN for floats, where an index is outside [-n, n); negative ones count from the end),
    "clip" (clamp to [0, n - 1], so -1 takes element 0) and "wrap" (modulo n).

    >>> take(arange(3.0), np.array([0, 5, -1]))
    Array([ 0., nan,  2.], dtype=float32)
    >>> take(arange(3.0), np.array([0, 5, -1]), mode="clip")
    Array([0., 2., 0.], dtype=float32)
    """
    if out is not None:
        raise NotImplementedError("The 'out' argument to jnp.take is not supported.")
    a = a if _is_array(a) else asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axes(axis, a.ndim)[0]
    ind = indices if _is_array(indices) else np.asarray(indices)
    if not dtypes.is_int(_index_dtype(ind)):
        raise TypeError(f"take: indices must have an integer type, got {_index_dtype(ind)}")
    n, mode = a.shape[axis], "fill" if mode is None else mode
    if mode == "raise":
        raise NotImplementedError("The 'raise' mode to jnp.take is not supported.")
    if mode not in ("fill", "clip", "wrap"):
        raise ValueError(f"Invalid mode '{mode}' for np.take")
    where_ok = _in_range(ind, n) if mode == "fill" else None
    ind = clip(ind, 0, n - 1) if mode == "clip" else remainder(ind, n) if mode == "wrap" else ind
    taken = _getitem(a, (slice(None),) * axis + (ind,))
    if where_ok is None:
        return taken
    where_ok = reshape(where_ok, np.shape(where_ok) + (1,) * (a.ndim - axis - 1))
    return where(where_ok, taken, _take_fill(a.dtype, fill_value))


# What `import irgrad.numpy as jnp` offers: jax.numpy's names irgrad implements, plus rsqrt.
__all__ = [
    "abs", "absolute", "add", "all", "amax", "amin", "any", "arange", "arccos", "arccosh", "arcsin", "arcsinh",
    "arctan", "arctan2", "arctanh", "argmax", "argmin", "argsort", "around", "array", "asarray", "astype",
    "atleast_1d", "atleast_2d", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bool_",
    "broadcast_arrays", "broadcast_to", "cbrt", "ceil", "clip", "concatenate", "cos", "cosh", "cumsum", "diagonal",
    "divide", "dot", "dtype", "e", "empty", "empty_like", "equal", "euler_gamma", "exp", "exp2", "expand_dims",
    "expm1", "eye", "finfo", "flip", "float16", "float32", "float64", "float_power", "floor", "floor_divide",
    "fmod", "full", "full_like", "greater", "greater_equal", "hstack", "identity", "iinfo", "inf", "inner", "int16",
    "int32", "int64", "int8", "invert", "isfinite", "isinf", "isnan", "left_shift", "less", "less_equal",
    "linspace", "log", "log10", "log1p", "log2", "logaddexp", "logical_and", "logical_not", "logical_or",
    "logical_xor", "matmul", "max", "maximum", "mean", "min", "minimum", "mod", "moveaxis", "multiply", "nan",
    "ndarray", "ndim", "negative", "newaxis", "not_equal", "ones", "ones_like", "outer", "pi", "positive", "power",
    "prod", "ravel", "reciprocal", "remainder", "reshape", "result_type", "right_shift", "round", "rsqrt", "shape",
    "sign", "sin", "sinh", "size", "sort", "sqrt", "square", "squeeze", "stack", "std", "subtract", "sum",
    "swapaxes", "take", "tan", "tanh", "tensordot", "trace", "transpose", "tri", "true_divide", "trunc", "uint32",
    "uint64", "uint8", "var", "vdot", "vstack", "where", "zeros", "zeros_like",
]
