"""Values at the edges of integer and float semantics, eager and inside jit, against JAX:
float -> integer casts of NaN, infinities and out-of-range values (XLA saturates, NaN -> 0),
integer division and remainder by zero and INT_MIN // -1 (x86 traps on these; XLA defines
them), float floor division and fmod (JAX's exact formulas), and max / min / argmax / argmin
of empty arrays (JAX raises ValueError, also at trace time)."""

from __future__ import annotations

import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402

CAST_SOURCES = np.float32([np.nan, np.inf, -np.inf, 1e10, -1e10, 3e9, -3e9, 2147483647.0, -2147483648.0,
                           255.5, 256.0, 127.9, -128.9, 2.5, -2.5, -0.5, 0.0, -0.0])
INT_TARGETS = [np.int32, np.int16, np.int8, np.uint32, np.uint8, np.bool_]


def _same(ours, theirs, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype, (what, ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours, theirs, err_msg=what)


@pytest.mark.parametrize("src", [np.float32, np.float16], ids=lambda d: np.dtype(d).name)
def test_float_to_int_casts_match_jax(src):
    with np.errstate(over="ignore"):
        x = CAST_SOURCES.astype(src)   # float16: 1e10 etc. become inf
    jitted = irgrad.jit(lambda v: [v.astype(t) for t in INT_TARGETS])(x)
    for t, traced in zip(INT_TARGETS, jitted):
        theirs = jnp.asarray(x).astype(t)
        _same(inp.asarray(x).astype(t), theirs, f"eager {np.dtype(t).name}")
        _same(traced, theirs, f"jit {np.dtype(t).name}")


def _int_operands(dt):
    info = np.iinfo(dt)
    if info.min < 0:
        a = [7, -7, 0, 5, -1, info.min, info.max, 3, -7, 7, info.min, 6, info.min, -9]
        b = [0, 0, 0, 2, -2, -1, -1, -2, 2, -2, 0, 3, 2, -4]
    else:
        a = [7, 0, 5, 1, info.max, 3, 6, info.max]
        b = [0, 0, 2, 0, 7, 2, 3, 0]
    return np.array(a, dt), np.array(b, dt)


DIVISIONS = {
    "floor_divide": lambda np_, a, b: np_.floor_divide(a, b),
    "remainder": lambda np_, a, b: np_.remainder(a, b),
    "fmod": lambda np_, a, b: np_.fmod(a, b),
    "operator //": lambda np_, a, b: a // b,
    "operator %": lambda np_, a, b: a % b,
    "divmod": lambda np_, a, b: np_.stack(divmod(a, b)),
}


@pytest.mark.parametrize("dt", [np.int32, np.int16, np.int8, np.uint32, np.uint8], ids=lambda d: np.dtype(d).name)
def test_integer_division_by_zero_and_overflow_match_jax(dt):
    a, b = _int_operands(dt)
    jitted = irgrad.jit(lambda x, y: {k: f(inp, x, y) for k, f in DIVISIONS.items()})(a, b)
    for name, f in DIVISIONS.items():
        theirs = f(jnp, jnp.asarray(a), jnp.asarray(b))
        _same(f(inp, inp.asarray(a), inp.asarray(b)), theirs, f"eager {name}")
        _same(jitted[name], theirs, f"jit {name}")


@pytest.mark.parametrize("dt", [np.float32, np.float16], ids=lambda d: np.dtype(d).name)
def test_float_floor_divide_and_fmod_match_jax(dt):
    big = 1e30 if dt == np.float32 else 6e4
    a = np.array([1.0, -1.0, 7.0, -7.0, 0.0, 1.0, np.inf, -3.5, 5.0, big, 2049.0, 0.3, -0.7, 1.0], dt)
    b = np.array([0.1, 0.1, 2.0, 2.0, 0.0, 0.0, 2.0, -1.5, np.inf, 3.0, 1.0, 0.1, 0.2, -np.inf], dt)
    jitted = irgrad.jit(lambda x, y: {k: f(inp, x, y) for k, f in DIVISIONS.items()})(a, b)
    for name, f in DIVISIONS.items():
        theirs = f(jnp, jnp.asarray(a), jnp.asarray(b))
        _same(f(inp, inp.asarray(a), inp.asarray(b)), theirs, f"eager {name}")
        _same(jitted[name], theirs, f"jit {name}")


EMPTY_CASES = [("max", (0,), None), ("min", (0,), None), ("argmax", (0,), None), ("argmin", (0,), None),
               ("max", (0, 3), 0), ("argmin", (0, 3), 0), ("amax", (2, 0), -1)]


@pytest.mark.parametrize("name, shape, axis", EMPTY_CASES)
def test_reduction_of_an_empty_axis_raises_like_jax(name, shape, axis):
    x = np.zeros(shape, np.float32)
    with pytest.raises(ValueError) as theirs:
        getattr(jnp, name)(x, axis=axis)
    eager = getattr(inp, name)
    jitted = irgrad.jit(lambda v: getattr(inp, name)(v, axis=axis))
    for run in (lambda: eager(x, axis=axis), lambda: jitted(x)):
        with pytest.raises(ValueError) as ours:
            run()
        assert str(ours.value) == str(theirs.value)


def test_reductions_of_empty_arrays_that_are_defined_match_jax():
    x, m = np.zeros((0, 3), np.float32), np.zeros((2, 0), bool)
    cases = {"max_axis1": lambda np_: np_.max(x, axis=1), "argmax_axis1": lambda np_: np_.argmax(x, axis=1),
             "any": lambda np_: np_.any(m), "all": lambda np_: np_.all(m),
             "any_axis1": lambda np_: np_.any(m, axis=1), "all_axis1": lambda np_: np_.all(m, axis=1),
             "sum": lambda np_: np_.sum(x), "prod": lambda np_: np_.prod(x)}
    jitted = irgrad.jit(lambda: {k: f(inp) for k, f in cases.items()})()
    for name, f in cases.items():
        _same(f(inp), f(jnp), f"eager {name}")
        _same(jitted[name], f(jnp), f"jit {name}")


B1, B2 = np.array([True, False, True, False]), np.array([True, True, False, False])
U8, I8 = np.uint8([1, 0, 255, 3]), np.int8([1, -2, 127, -128])
# jnp functions on bool and integer operands: JAX converts bools to int32 for arithmetic, leaves
# integers alone in floor / ceil / trunc / round, and unsigned ints alone in abs.
INTEGER_CONVENTIONS = {
    "floor_divide_bool": lambda np_: np_.floor_divide(B1, B2), "remainder_bool": lambda np_: np_.remainder(B1, B2),
    "fmod_bool": lambda np_: np_.fmod(B1, B2), "power_bool": lambda np_: np_.power(B1, B2),
    "square_bool": lambda np_: np_.square(B1),
    "shifts_bool": lambda np_: np_.left_shift(B1, B2) + np_.right_shift(B1, B2),
    "abs_bool": lambda np_: np_.abs(B1), "abs_uint8": lambda np_: np_.abs(U8), "floor_bool": lambda np_: np_.floor(B1),
    "floor_int8": lambda np_: np_.floor(I8), "ceil_uint8": lambda np_: np_.ceil(U8),
    "round_int8": lambda np_: np_.round(I8),
    "cumsum_bool": lambda np_: np_.cumsum(B1), "neg_uint8": lambda np_: -np_.asarray(U8),
    "sign_uint8": lambda np_: np_.sign(U8), "cube_uint8": lambda np_: np_.asarray(U8) ** 3,
    "argmax_uint8": lambda np_: np_.argmax(np_.asarray(np.uint8([3, 200, 7]))),
    "argmin_bool": lambda np_: np_.argmin(np_.asarray([True, False, True])),
    "matmul_bool": lambda np_: np_.asarray(np.array([[1, 1], [0, 1]], bool)) @ np_.asarray(np.tri(2, dtype=bool)),
    "shift_uint8_past_width": lambda np_: np_.left_shift(np_.asarray(U8), np_.asarray(np.uint8([8, 9, 1, 200]))),
    "shift_int8_past_width": lambda np_: np_.right_shift(np_.asarray(I8), np_.asarray(np.int8([8, 9, -1, 1]))),
}


def test_integer_and_bool_conventions_match_jax():
    jitted = irgrad.jit(lambda: {k: f(inp) for k, f in INTEGER_CONVENTIONS.items()})()
    for name, f in INTEGER_CONVENTIONS.items():
        theirs = f(jnp)
        _same(f(inp), theirs, f"eager {name}")
        _same(jitted[name], theirs, f"jit {name}")


@pytest.mark.parametrize("name, fn", [("negative_bool", lambda np_: np_.negative(B1)),
                                      ("sign_bool", lambda np_: np_.sign(B1)),
                                      ("integer_pow_negative", lambda np_: np_.asarray(I8) ** -1)])
def test_integer_operations_jax_refuses_are_refused(name, fn):
    with pytest.raises(TypeError):
        fn(jnp)
    with pytest.raises(TypeError):
        fn(inp)
    with pytest.raises(TypeError):
        irgrad.jit(lambda: fn(inp))()
