"""Derivatives of the scalar arith / math ops: one table shared by both modes.

A rule maps an op's operands `x` and result `y` to one partial derivative per
operand, dy/dx_i. Reverse mode multiplies the incoming cotangent by each partial;
forward mode sums partial * tangent. A partial may be the Python number 1 or -1
(emitted as a copy or a negation) or None (no dependence). The same rules apply
to tensor-typed arith / math ops outside a linalg.generic: the helpers below
build splat constants when the operands are tensors.

Ops whose result does not depend differentiably on their operands are listed in
NON_DIFFERENTIABLE; `arith.select` and the casts are linear and have their own
small tables in the passes.
"""

from __future__ import annotations

import contextlib
import math as _m
import threading

from .ir import arith, dtype_of, ir, math


def const(value: float, like: ir.Value) -> ir.Value:
    """The number `value` with `like`'s type (a scalar, or a splat tensor)."""
    t = like.type
    if isinstance(t, ir.RankedTensorType):
        et = ir.RankedTensorType(t).element_type
        attr = ir.DenseElementsAttr.get_splat(t, ir.FloatAttr.get(et, value))
        return arith.constant(t, attr)
    return arith.constant(t, ir.FloatAttr.get(t, value))


def cmp(pred: str, a: ir.Value, b: ir.Value) -> ir.Value:
    """arith.cmpf with predicate name `pred` (oeq, one, olt, ole, ogt, oge, une)."""
    return arith.CmpFOp(getattr(arith.CmpFPredicate, pred.upper()), a, b).result


def select(c, a, b):
    return arith.select(c, a, b)


def recip(v):
    return arith.divf(const(1.0, v), v)


def _balanced_eq(x, z, y):
    """JAX's tie rule for max / min: 1 where x alone attains z, 0.5 where both do."""
    half_or_one = select(cmp("oeq", y, z), const(0.5, x), const(1.0, x))
    return select(cmp("oeq", x, z), half_or_one, const(0.0, x))


def guarded_power(x, n: int, by_products, powf=math.powf):
    """x ** n for an int n <= -2: `by_products(x)` (1 / (x * x ...), JAX's integer_pow)
    except at x = +-0 and +-inf, where it is powf(x, n).

    The value is the same there, and so the derivatives are JAX's n * x ** (n - 1) (+-inf
    at 0, +-0 at inf), where the chain rule through the products gives 0 * inf = NaN. Each
    branch reads 1 where the other is taken, so the zero cotangent the unselected branch
    receives meets only finite partials. Example: guarded_power(x, -2, lambda v: recip(arith.mulf(v, v))).
    """
    one, mag = const(1.0, x), math.absf(x)
    ordinary = arith.andi(cmp("ogt", mag, const(0.0, x)), cmp("olt", mag, const(float("inf"), x)))
    products = by_products(select(ordinary, x, one))
    at_edge = powf(select(ordinary, one, x), const(float(n), x))
    return select(ordinary, products, at_edge)


def _cbrt_partial(y):
    """JAX's (1/3) * integer_pow(y, -2): inf at y = 0 and 0 at y = inf (y / (3 x) gives NaN)."""
    return arith.mulf(const(1.0 / 3.0, y), guarded_power(y, -2, lambda v: recip(arith.mulf(v, v))))


def _pow_partials(x, y):
    a, b = x
    # JAX's rules for a float exponent (lax._pow_jvp_lhs / _pow_jvp_rhs): d/da a**b =
    # b * a**(b-1), with no special case at b == 0 (0 * 0**-1 is NaN at a == 0, and the
    # mixed derivative at b == 0 is a**-1); d/db = log(a) * a**b, with log(0) -> 0.
    b_minus_1 = arith.subf(b, const(1.0, b))
    da = arith.mulf(b, math.powf(a, b_minus_1))
    safe_a = select(cmp("oeq", a, const(0.0, a)), const(1.0, a), a)
    db = arith.mulf(math.log(safe_a), y)
    return [da, db]


def _atan2_partials(x, y):
    a, b = x
    denom = arith.addf(arith.mulf(a, a), arith.mulf(b, b))
    return [arith.divf(b, denom), arith.negf(arith.divf(a, denom))]


def _tanh_partial(y):
    """(1 - y) + (1 - y) * y, the order JAX's transposed tanh rule computes in."""
    a = arith.subf(const(1.0, y), y)
    return arith.addf(a, arith.mulf(a, y))


def _one_minus_sq(v):
    return arith.subf(const(1.0, v), arith.mulf(v, v))


PARTIALS = {
    "arith.addf": lambda x, y: [1, 1],
    "arith.subf": lambda x, y: [1, -1],
    "arith.mulf": lambda x, y: [x[1], x[0]],
    "arith.divf": lambda x, y: [recip(x[1]), arith.negf(arith.divf(y, x[1]))],
    "arith.negf": lambda x, y: [-1],
    "arith.remf": lambda x, y: [1, arith.negf(math.trunc(arith.divf(x[0], x[1])))],
    "arith.maximumf": lambda x, y: [_balanced_eq(x[0], y, x[1]), _balanced_eq(x[1], y, x[0])],
    "arith.minimumf": lambda x, y: [_balanced_eq(x[0], y, x[1]), _balanced_eq(x[1], y, x[0])],
    "arith.maxnumf": lambda x, y: [_balanced_eq(x[0], y, x[1]), _balanced_eq(x[1], y, x[0])],
    "arith.minnumf": lambda x, y: [_balanced_eq(x[0], y, x[1]), _balanced_eq(x[1], y, x[0])],
    "math.exp": lambda x, y: [y],
    "math.exp2": lambda x, y: [arith.mulf(y, const(_m.log(2.0), y))],
    "math.expm1": lambda x, y: [arith.addf(y, const(1.0, y))],
    "math.log": lambda x, y: [recip(x[0])],
    "math.log2": lambda x, y: [recip(arith.mulf(x[0], const(_m.log(2.0), y)))],
    "math.log10": lambda x, y: [recip(arith.mulf(x[0], const(_m.log(10.0), y)))],
    "math.log1p": lambda x, y: [recip(arith.addf(x[0], const(1.0, y)))],
    "math.sqrt": lambda x, y: [arith.divf(const(0.5, y), y)],
    "math.rsqrt": lambda x, y: [arith.divf(arith.mulf(const(-0.5, y), y), x[0])],
    "math.cbrt": lambda x, y: [_cbrt_partial(y)],
    "math.tanh": lambda x, y: [_tanh_partial(y)],
    "math.sin": lambda x, y: [math.cos(x[0])],
    "math.cos": lambda x, y: [arith.negf(math.sin(x[0]))],
    "math.tan": lambda x, y: [arith.addf(const(1.0, y), arith.mulf(y, y))],
    "math.atan": lambda x, y: [recip(arith.addf(const(1.0, y), arith.mulf(x[0], x[0])))],
    "math.atan2": _atan2_partials,
    "math.sinh": lambda x, y: [math.cosh(x[0])],
    "math.cosh": lambda x, y: [math.sinh(x[0])],
    "math.asin": lambda x, y: [math.rsqrt(_one_minus_sq(x[0]))],
    "math.acos": lambda x, y: [arith.negf(math.rsqrt(_one_minus_sq(x[0])))],
    "math.asinh": lambda x, y: [math.rsqrt(arith.addf(arith.mulf(x[0], x[0]), const(1.0, y)))],
    "math.acosh": lambda x, y: [math.rsqrt(arith.subf(arith.mulf(x[0], x[0]), const(1.0, y)))],
    "math.atanh": lambda x, y: [recip(_one_minus_sq(x[0]))],
    "math.erf": lambda x, y: [arith.mulf(const(2.0 / _m.sqrt(_m.pi), y),
                                         math.exp(arith.negf(arith.mulf(x[0], x[0]))))],
    "math.powf": _pow_partials,
    "math.absf": lambda x, y: [select(cmp("oge", x[0], const(0.0, y)), const(1.0, y), const(-1.0, y))],
    "math.copysign": lambda x, y: [select(cmp("oeq", math.absf(x[0]), math.absf(y)),
                                          select(cmp("oeq", x[0], y), const(1.0, y), const(-1.0, y)),
                                          const(1.0, y)), None],
    "math.fma": lambda x, y: [x[1], x[0], 1],
}

# Float results that carry no derivative: their results are treated as constants.
NON_DIFFERENTIABLE = {
    "math.floor", "math.ceil", "math.round", "math.roundeven", "math.trunc",
    "arith.cmpf", "arith.fptosi", "arith.fptoui", "math.isnan", "math.isinf", "math.isfinite",
}

# Ops that only change the float width: the derivative is the same cast backwards.
CASTS = {"arith.extf", "arith.truncf"}


def cast_to(v: ir.Value, t: ir.Type) -> ir.Value:
    """Convert float `v` to the float type (or tensor type) `t`."""
    src, dst = dtype_of(v), t if not isinstance(t, ir.RankedTensorType) else ir.RankedTensorType(t).element_type
    if src == dst:
        return v
    width = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}
    if width[str(src)] < width[str(dst)]:
        return arith.extf(t, v)
    return arith.truncf(t, v)


_options = threading.local()


@contextlib.contextmanager
def strong_zero(enabled: bool = True):
    """While active, `scale` gives an exact zero when the incoming (co)tangent is zero,
    whatever the partial (Enzyme's "strong zero"): the adjoint of the branch `where` did
    not take stays 0 even where that branch's derivative is inf or NaN. JAX gives NaN
    there, so it is off unless asked for (irgrad.config "irgrad_strong_zero")."""
    before = getattr(_options, "strong_zero", False)
    _options.strong_zero = enabled
    try:
        yield
    finally:
        _options.strong_zero = before


def scale(d: ir.Value, partial) -> ir.Value:
    """d * partial, with the shortcuts 1 and -1 (and 0 for d == 0 under strong_zero)."""
    if isinstance(partial, int):
        return d if partial == 1 else arith.negf(d)
    product = arith.mulf(d, partial)
    if not getattr(_options, "strong_zero", False):
        return product
    zero = const(0.0, d)
    return select(cmp("oeq", d, zero), zero, product)
