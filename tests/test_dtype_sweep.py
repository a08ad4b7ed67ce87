"""Every primitive in `frontend.primitives.PRIMITIVES`, for every dtype, eagerly and under jit.

For each (primitive, dtype) the primitive is bound on concrete inputs (the NumPy impl) and
inside one jitted function per dtype (the MLIR lowering, compiled by IREE), and compared
with JAX's `lax` equivalent:

* JAX accepts the dtype: eager and jit equal JAX (bit for bit; transcendental functions,
  whose polynomials differ, within 1 ulp in float16 and rtol 2e-6 + atol 1e-6 in float32 as
  in tests/test_primitives.py), or both refuse with a TypeError and the pair is listed in
  REFUSED with the reason;
* JAX refuses it: both refuse with a TypeError, or both accept and jit equals eager
  (irgrad's internal uses, e.g. a bool reduce_max for jnp.any).

A test checks the table covers every registered primitive, so a new primitive needs a row.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from irgrad.frontend import random_bits as rb
from irgrad.frontend.array import Array
from irgrad.frontend.primitives import PRIMITIVES, bind

import irgrad

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

DTYPES = [np.float16, np.float32, np.int8, np.int16, np.int32, np.uint8, np.uint32, np.bool_]
N = 16


@dataclass(frozen=True)
class Case:
    prim: str
    jax_fn: Callable                 # (*inputs) -> JAX's value (params already bound)
    inputs: str = "any"              # a key of INPUTS, or several joined by ","
    params: dict = field(default_factory=dict)
    ulps: int = 0                    # tolerance for float results (0: bit-exact, NaNs equal)
    approx: bool = False             # transcendental: float16 1 ulp, float32 rtol 2e-6 + atol 1e-6
    name: str = ""

    @property
    def label(self):
        return self.name or self.prim


def _ints(dt, values):
    info = np.iinfo(dt)
    return np.array([v for v in values if info.min <= v <= info.max], dt)


def _values(dt, kind, rng):
    """N inputs of dtype `dt` for one operand kind."""
    dt = np.dtype(dt)
    if dt == np.bool_:
        return rng.integers(0, 2, N).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if kind == "shift":
            bits = info.bits
            return np.resize(_ints(dt, [0, 1, 3, bits - 1, bits, bits + 1, 2 * bits, -1, -bits, 5, 2, 7, 4, 6]), N)
        special = [0, 1, 2, 3, 7, -1, -2, -7, info.min, info.max, info.min + 1, info.max - 1, 100, -100]
        base = _ints(dt, special)
        pad = rng.integers(max(info.min, -50), min(info.max, 50) + 1, N - len(base)).astype(dt)
        return np.concatenate([base, pad])[:N]
    kind = "any" if kind == "shift" else kind
    lo, hi = {"any": (-3, 3), "pos": (0.2, 3), "unit": (-0.9, 0.9), "gt1": (1.1, 3), "small": (-1, 1)}[kind]
    x = rng.uniform(lo, hi, N).astype(dt)
    if kind == "any":   # the values where semantics differ: signed zeros, infinities, NaN, halves
        x[:8] = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.5, -1.5, 0.5], dt)
    return x


def make_inputs(case, dt):
    rng = np.random.default_rng(zlib.crc32(f"{case.label} {np.dtype(dt).name}".encode()))
    out = []
    for kind in case.inputs.split(","):
        if kind == "pred":
            out.append(rng.integers(0, 2, N).astype(bool))
        elif kind == "mat34":
            out.append(_values(dt, "small", rng)[:12].reshape(3, 4) if np.dtype(dt).kind == "f"
                       else np.resize(_values(dt, "any", rng), (3, 4)))
        elif kind == "mat45":
            out.append(np.resize(_values(dt, "small" if np.dtype(dt).kind == "f" else "any", rng), (4, 5)))
        elif kind == "grid35":
            out.append(np.resize(_values(dt, "any", rng), (3, 5)))
        elif kind == "rank":
            out.append(np.array([2, 0, 3, 1], np.int32))
        elif kind == "idx":
            out.append(np.array([3, 3, 0, 7, -1], np.int32))
        elif kind == "row4":
            out.append(_values(dt, "any", rng)[4:8])
        else:
            out.append(_values(dt, kind, rng))
    return out


def _float_only(f):
    @functools.wraps(f)
    def g(*xs):
        if not all(np.dtype(x.dtype).kind == "f" for x in xs):
            raise TypeError(f"{f.__name__}: floats only")
        return f(*xs)
    return g


def _numeric(f):
    """jnp functions that convert bool operands to int32 first; the primitive takes numbers."""
    @functools.wraps(f)
    def g(*xs):
        if any(np.dtype(x.dtype) == np.bool_ for x in xs):
            raise TypeError(f"{f.__name__}: no bool operands at the primitive level")
        return f(*xs)
    return g


def _exact_fma(a, b, c):
    """a * b + c rounded once to float32 (then to float16, as IREE's f16 fma does)."""
    if np.dtype(a.dtype).kind != "f":
        raise TypeError("fma: floats only")
    return rb.fma32(np.asarray(a), np.asarray(b), np.asarray(c)).astype(a.dtype)


def _lax_reduce(op, init):
    def f(x):
        return lax.reduce(x, np.array(init(x.dtype), x.dtype), op, (1,))
    return f


def _identity(lo):
    def init(dt):
        dt = np.dtype(dt)
        if dt.kind == "f":
            return -np.inf if lo else np.inf
        if dt == np.bool_:
            return not lo
        return np.iinfo(dt).min if lo else np.iinfo(dt).max
    return init


def _rank_oracle(k):
    """Stable rank along the last axis (lax.sort's order: NaNs last, -0.0 == 0.0): the
    inverse of the sorting permutation, itself the argsort of that permutation."""
    keys = jnp.where(k == 0, jnp.zeros_like(k), k) if np.dtype(k.dtype).kind == "f" else k
    return jnp.argsort(jnp.argsort(keys, stable=True)).astype(np.int32)


def _place_oracle(v, rank):
    out = np.empty_like(np.asarray(v))
    out[np.asarray(rank)] = np.asarray(v)
    return out


def _gather_oracle(v, idx):
    """v[idx], with 0 (-0.0 for floats) where idx is out of range."""
    v, idx = np.asarray(v), np.asarray(idx)
    ok = (idx >= 0) & (idx < len(v))
    fill = np.array(-0.0 if v.dtype.kind == "f" else 0, v.dtype)
    return np.where(ok, v[np.where(ok, idx, 0)], fill)


def _threefry_oracle(k0, k1, x0, x1):
    if not all(np.dtype(a.dtype) == np.uint32 for a in (k0, k1, x0, x1)):
        raise TypeError("threefry2x32 takes uint32")
    y0, y1 = rb.threefry2x32_pair(k0, k1, x0, x1)
    return y0 ^ y1



UNARY = {
    "exp": (lax.exp, "any"), "exp2": (lax.exp2, "any"), "log": (lax.log, "pos"),
    "log2": (_float_only(jnp.log2), "pos"), "log10": (_float_only(jnp.log10), "pos"),
    "log1p": (lax.log1p, "pos"), "expm1": (lax.expm1, "any"), "sqrt": (lax.sqrt, "pos"),
    "rsqrt": (lax.rsqrt, "pos"), "cbrt": (lax.cbrt, "any"), "tanh": (lax.tanh, "any"),
    "sin": (lax.sin, "any"), "cos": (lax.cos, "any"), "tan": (lax.tan, "unit"),
    "arctan": (lax.atan, "any"), "arcsin": (lax.asin, "unit"), "arccos": (lax.acos, "unit"),
    "sinh": (lax.sinh, "small"), "cosh": (lax.cosh, "small"), "arcsinh": (lax.asinh, "any"),
    "arccosh": (lax.acosh, "gt1"), "arctanh": (lax.atanh, "unit"), "erf": (lax.erf, "any"),
}
EXACT_UNARY = {
    "neg": lax.neg, "abs": lax.abs, "sign": lax.sign, "floor": lax.floor, "ceil": lax.ceil,
    "round": lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN), "trunc": _float_only(jnp.trunc),
    "not": lax.bitwise_not, "stop_gradient": lax.stop_gradient,
}
EXACT_BINARY = {
    "add": (lax.add, "any,any"), "sub": (lax.sub, "any,any"), "mul": (lax.mul, "any,any"),
    "div": (lax.div, "any,any"), "floor_divide": (_numeric(jnp.floor_divide), "any,any"),
    "rem": (_numeric(jnp.remainder), "any,any"), "fmod": (lax.rem, "any,any"), "max": (lax.max, "any,any"),
    "min": (lax.min, "any,any"), "and": (lax.bitwise_and, "any,any"), "or": (lax.bitwise_or, "any,any"),
    "xor": (lax.bitwise_xor, "any,any"), "shift_left": (lax.shift_left, "any,shift"),
    "shift_right_logical": (lax.shift_right_logical, "any,shift"),
    "shift_right_arithmetic": (lax.shift_right_arithmetic, "any,shift"),
    "eq": (lax.eq, "any,any"), "ne": (lax.ne, "any,any"), "lt": (lax.lt, "any,any"),
    "le": (lax.le, "any,any"), "gt": (lax.gt, "any,any"), "ge": (lax.ge, "any,any"),
}

CASES = (
    [Case(p, f, kind, approx=True) for p, (f, kind) in UNARY.items()]
    + [Case(p, f) for p, f in EXACT_UNARY.items()]
    + [Case(p, f, kinds) for p, (f, kinds) in EXACT_BINARY.items()]
    + [Case("pow", lax.pow, "pos,any", approx=True),
       Case("atan2", lax.atan2, "any,any", approx=True),
       Case("select", lax.select, "pred,any,any"),
       Case("fma", _exact_fma, "small,small,small")]
    + [Case("integer_pow", functools.partial(lax.integer_pow, y=y), "small", {"y": y}, ulps=1, name=f"integer_pow{y}")
       for y in (0, 1, 2, 3, 5, -1, -2)]
    + [Case("convert_element_type", functools.partial(lax.convert_element_type, new_dtype=t), "any",
            {"new_dtype": np.dtype(t)}, name=f"convert_to_{np.dtype(t).name}") for t in DTYPES]
    + [Case("reduce_sum", _lax_reduce(lax.add, lambda dt: 0), "grid35", {"axes": (1,)}, ulps=1),
       Case("reduce_prod", _lax_reduce(lax.mul, lambda dt: 1), "grid35", {"axes": (1,)}, ulps=1),
       Case("reduce_max", _lax_reduce(lax.max, _identity(True)), "grid35", {"axes": (1,)}),
       Case("reduce_min", _lax_reduce(lax.min, _identity(False)), "grid35", {"axes": (1,)}),
       Case("argmax", lambda x: lax.argmax(x, 1, np.int32), "grid35", {"axis": 1, "index_dtype": np.dtype(np.int32)}),
       Case("argmin", lambda x: lax.argmin(x, 1, np.int32), "grid35", {"axis": 1, "index_dtype": np.dtype(np.int32)}),
       Case("dot_general", lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ()))), "mat34,mat45",
            {"contract": ((1,), (0,)), "batch": ((), ())}, ulps=2),
       Case("transpose", lambda x: lax.transpose(x, (1, 0)), "grid35", {"perm": (1, 0)}),
       Case("reshape", lambda x: lax.reshape(x, (5, 3)), "grid35", {"shape": (5, 3)}),
       Case("broadcast_in_dim", lambda x: lax.broadcast_in_dim(x, (2, 3, 5), (1, 2)), "grid35",
            {"shape": (2, 3, 5), "dims": (1, 2)}),
       Case("slice", lambda x: lax.slice(x, (0, 1), (3, 5), (2, 2)), "grid35",
            {"start": (0, 1), "limit": (3, 5), "strides": (2, 2)}),
       Case("rev", lambda x: lax.rev(x, (1,)), "grid35", {"axes": (1,)}),
       Case("concatenate", lambda a, b: lax.concatenate([a, b], 0), "any,any", {"axis": 0}),
       Case("sort_rank", _rank_oracle, "any"),
       Case("sort_place", _place_oracle, "row4,rank"),
       Case("sort_gather", _gather_oracle, "any,idx"),
       Case("threefry2x32", _threefry_oracle, "any,any,any,any", {"out": "xor"})]
)
BITCASTS = {np.float16: np.int16, np.int16: np.float16, np.float32: np.int32, np.int32: np.uint32,
            np.uint32: np.float32, np.int8: np.uint8, np.uint8: np.int8}
CASES += [Case("bitcast_convert_type", functools.partial(lax.bitcast_convert_type, new_dtype=t), "any",
               {"new_dtype": np.dtype(t)}, name=f"bitcast_from_{np.dtype(s).name}") for s, t in BITCASTS.items()]
ITERATIONS = [("iota", dt) for dt in DTYPES]   # no inputs: the dtype is a parameter

# (primitive, dtype kind) pairs JAX accepts and irgrad refuses with a TypeError, and why.
REFUSED: dict[tuple[str, str], str] = {}


def applicable(case, dt):
    """bitcast rows run for their source dtype only; iota has its own test."""
    if case.prim == "bitcast_convert_type":
        return case.label == f"bitcast_from_{np.dtype(dt).name}"
    return True


def _kind(dt):
    dt = np.dtype(dt)
    return "b" if dt == np.bool_ else dt.kind


# Oracles written with NumPy (not traceable by jax.jit): computed on the NumPy inputs directly.
NUMPY_ORACLES = {_exact_fma, _place_oracle, _gather_oracle, _threefry_oracle}


def _jax_values(cases, inputs):
    """{label: (JAX's value, None) or (None, JAX's TypeError)} for `cases`. The lax/jnp
    references are computed in ONE jax.jit (one XLA compile for the table, not one per op
    as eagerly); a case JAX refuses is found by tracing it alone (jax.eval_shape: no compile)."""
    out, traced = {}, []
    for case in cases:
        xs = inputs[case.label]
        try:
            if case.jax_fn in NUMPY_ORACLES:
                out[case.label] = np.asarray(case.jax_fn(*xs)), None
                continue
            jax.eval_shape(case.jax_fn, *xs)
            traced.append(case)
        except TypeError as e:
            out[case.label] = None, e
    values = jax.jit(lambda ins: [c.jax_fn(*ins[c.label]) for c in traced])({c.label: inputs[c.label] for c in traced})
    out.update({c.label: (np.asarray(v), None) for c, v in zip(traced, values)})
    return out


def _eager(case, xs):
    try:
        return np.asarray(bind(case.prim, *[Array(x) for x in xs], **case.params)), None
    except TypeError as e:
        return None, e


def ulp_distance(a, b):
    """Largest distance in ulps between same-dtype float arrays (equal NaNs and infinities: 0)."""
    a, b = np.asarray(a), np.asarray(b)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return 0
    if not (np.isfinite(a[~same]).all() and np.isfinite(b[~same]).all()):
        return np.inf
    ibits = {2: np.int16, 4: np.int32}[a.dtype.itemsize]

    def ordered(v):
        i = v.view(ibits).astype(np.int64)
        return np.where(i < 0, -(i & ((1 << (8 * a.dtype.itemsize - 1)) - 1)), i)
    return int(np.max(np.abs(ordered(a) - ordered(b))[~same]))


def compare(errors, case, what, ours, theirs):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.dtype != theirs.dtype or ours.shape != theirs.shape:
        errors.append(f"{what}: {ours.dtype}{ours.shape} != {theirs.dtype}{theirs.shape}")
        return
    if ours.dtype.kind == "f" and case.approx and ours.dtype == np.float32:
        special = ~np.isfinite(ours) | ~np.isfinite(theirs)
        if not np.array_equal(ours[special], theirs[special], equal_nan=True) or not np.allclose(
                ours[~special], theirs[~special], rtol=2e-6, atol=1e-6):
            errors.append(f"{what}: beyond rtol 2e-6 + atol 1e-6: {ours.tolist()} vs {theirs.tolist()}")
    elif ours.dtype.kind == "f":
        d = ulp_distance(ours, theirs)
        allowed = max(case.ulps, 1 if case.approx else 0)
        if d > allowed:
            errors.append(f"{what}: {d} ulps apart (allowed {allowed}): {ours.tolist()} vs {theirs.tolist()}")
    elif not np.array_equal(ours, theirs):
        errors.append(f"{what}: {ours.tolist()} != {theirs.tolist()}")


def _jit_all(cases, inputs):
    """All cases of one dtype in one jitted function; one by one if that fails, so an
    error names its primitive. Returns {label: value or exception}."""
    def run(cs):
        fn = irgrad.jit(lambda *flat: [bind(c.prim, *flat[k:k + len(xs)], **c.params)
                                       for c, xs, k in zip(cs, [inputs[c.label] for c in cs],
                                                           np.cumsum([0] + [len(inputs[c.label]) for c in cs]))])
        return dict(zip([c.label for c in cs], fn(*[x for c in cs for x in inputs[c.label]])))
    try:
        return run(cases)
    except Exception:  # noqa: BLE001 - retried one by one below
        pass
    out = {}
    for c in cases:
        try:
            out.update(run([c]))
        except Exception as e:  # noqa: BLE001 - reported per case
            out[c.label] = e
    return out


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_primitive_under_jit_matches_eager_and_jax(dt):
    errors, runs = [], []
    cases = [case for case in CASES if applicable(case, dt)]
    inputs, expected = {case.label: make_inputs(case, dt) for case in cases}, {}
    jax_values = _jax_values(cases, inputs)
    for case in cases:
        xs = inputs[case.label]
        theirs, jax_error = jax_values[case.label]
        ours, eager_error = _eager(case, xs)
        where = f"[{case.label} {np.dtype(dt).name}]"
        if eager_error is not None:   # refused eagerly: must be refused under jit too, and be deliberate
            if theirs is not None and (case.prim, _kind(dt)) not in REFUSED:
                errors.append(f"{where} JAX computes it, irgrad refuses: {eager_error}")
            expected[case.label] = ("refuse", eager_error, None)
        else:
            if theirs is not None:
                compare(errors, case, f"{where} eager vs JAX", ours, theirs)
            expected[case.label] = ("value", ours if theirs is None else theirs, "eager" if theirs is None else "JAX")
        runs.append(case)
    jitted = _jit_all([c for c in runs if expected[c.label][0] == "value"], inputs)
    for case in runs:
        where = f"[{case.label} {np.dtype(dt).name}]"
        how, value, oracle = expected[case.label]
        if how == "refuse":
            try:
                irgrad.jit(lambda *xs, c=case: bind(c.prim, *xs, **c.params))(*inputs[case.label])
                errors.append(f"{where} refused eagerly but runs under jit")
            except TypeError:
                pass
            continue
        got = jitted[case.label]
        if isinstance(got, Exception):
            errors.append(f"{where} eager works, jit fails: {type(got).__name__}: {str(got).splitlines()[0][:300]}")
        else:
            compare(errors, case, f"{where} jit vs {oracle}", got, value)
    assert not errors, f"{len(errors)} problems:\n" + "\n".join(errors)


def _iota_params(dt):
    return {"shape": (3, 4), "dimension": 1, "dtype": np.dtype(dt)}


IOTA_DTYPES = [dt for dt in DTYPES if dt != np.bool_]


@functools.cache
def _iotas():
    """(irgrad's jitted iota or None, JAX's iota) per dtype of IOTA_DTYPES, each side in ONE
    jit (one compile, not one per dtype); None when irgrad's combined function fails (each
    test then jits its dtype alone, so the error names it)."""
    theirs = jax.jit(lambda: [lax.broadcasted_iota(dt, (3, 4), 1) for dt in IOTA_DTYPES])()
    try:
        ours = irgrad.jit(lambda: [bind("iota", **_iota_params(dt)) for dt in IOTA_DTYPES])()
    except Exception:  # noqa: BLE001 - reported per dtype by the tests
        ours = [None] * len(IOTA_DTYPES)
    return dict(zip(IOTA_DTYPES, zip(ours, theirs)))


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_iota_every_dtype(dt):
    params = _iota_params(dt)
    if dt == np.bool_:   # JAX refuses a bool iota; so do both of ours
        for run in (lambda: bind("iota", **params), irgrad.jit(lambda: bind("iota", **params))):
            with pytest.raises(TypeError):
                run()
        return
    ours, theirs = _iotas()[dt]
    theirs = np.asarray(theirs)
    np.testing.assert_array_equal(np.asarray(bind("iota", **params)), theirs)
    ours = np.asarray(irgrad.jit(lambda: bind("iota", **params))() if ours is None else ours)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_the_table_covers_every_primitive():
    covered = {c.prim for c in CASES} | {"iota"}
    assert set(PRIMITIVES) <= covered, sorted(set(PRIMITIVES) - covered)
