"""irgrad.Array against jax.Array: printing, conversions, Python protocols,
operators with Python and NumPy operands on either side, and device residency."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irgrad
import irgrad.numpy as inp

F32 = np.float32
RNG = np.random.default_rng(0)

# (name, builder(m) -> array): the same data built with irgrad.numpy and jax.numpy.
REPR_CASES = [
    ("weak_scalar", lambda m: m.array(3.5) * 2.0),
    ("python_float", lambda m: m.asarray(7.0)),
    ("strong_scalar", lambda m: m.array(np.float32(7.0))),
    ("int_scalar", lambda m: m.array(3)),
    ("bool_scalar", lambda m: m.array(True)),
    ("vector", lambda m: m.array([1.5, 2.5])),
    ("matrix", lambda m: m.array([[1.0, 2.0], [3.0, 4.0]])),
    ("int32", lambda m: m.arange(6).reshape(2, 3)),
    ("int32_negative", lambda m: m.array([-3, 10, 200])),
    ("bool", lambda m: m.array([True, False, True])),
    ("uint8", lambda m: m.array([1, 255], dtype=m.uint8)),
    ("float16", lambda m: m.array([1.0, 2.5], dtype=m.float16)),
    ("special", lambda m: m.array([np.nan, np.inf, -np.inf, -0.0])),
    ("tiny_and_huge", lambda m: m.array([1e-8, 1.0, 1e10])),
    ("three_d", lambda m: m.arange(12.0).reshape(2, 2, 3)),
    ("summarized_1d", lambda m: m.arange(2000.0)),
    ("summarized_int", lambda m: m.arange(1001)),
    ("summarized_2d", lambda m: m.ones((40, 40))),
    ("wrapped", lambda m: m.array(RNG_DATA)),
    ("dtype_on_own_line", lambda m: m.array(WIDE_DATA)),
    ("empty", lambda m: m.zeros(0)),
    ("empty_2d", lambda m: m.zeros((2, 0))),
]
RNG_DATA = RNG.standard_normal((3, 7)).astype(F32)
WIDE_DATA = (np.arange(30, dtype=F32).reshape(3, 10) / F32(7)).astype(F32)


@pytest.mark.parametrize("build", [c[1] for c in REPR_CASES], ids=[c[0] for c in REPR_CASES])
def test_repr_and_str_match_jax(build):
    got, want = build(inp), build(jnp)
    assert isinstance(got, irgrad.Array)
    assert repr(got) == repr(want)
    assert str(got) == str(want)
    assert f"{got}" == f"{want}"


def test_repr_of_known_values():
    assert repr(irgrad.grad(lambda x: x ** 3)(2.0) - 5.0) == "Array(7., dtype=float32, weak_type=True)"
    assert repr(inp.array([1.5, 2.5])) == "Array([1.5, 2.5], dtype=float32)"


@pytest.mark.parametrize("spec", [".4f", "8.3f", ".2e", "", "g"])
def test_format_0d(spec):
    assert format(inp.array(np.float32(2.0 / 3.0)), spec) == format(jnp.array(np.float32(2.0 / 3.0)), spec)
    x = inp.array(np.float32(1.25))
    assert f"{x:.4f}" == "1.2500" and f"{x}" == "1.25"


def test_format_integer_and_array():
    assert f"{inp.array(7):d}" == f"{jnp.array(7):d}" == "7"
    assert f"{inp.array([1.0, 2.0])}" == f"{jnp.array([1.0, 2.0])}"
    with pytest.raises(TypeError):
        f"{inp.array([1.0, 2.0]):.2f}"


# ------------------------------------------------------------------- conversions

def test_scalar_conversions():
    x, j = inp.array(np.float32(2.75)), jnp.array(np.float32(2.75))
    assert float(x) == float(j) == 2.75 and isinstance(float(x), float)
    assert int(x) == int(j) == 2 and complex(x) == complex(j)
    assert x.item() == j.item() and type(x.item()) is float
    assert inp.array(5).item() == 5 and type(inp.array(5).item()) is int
    assert [10, 20, 30][inp.array(1)] == 20        # __index__ on an int array
    assert round(x).dtype == round(j).dtype and int(round(x)) == 3


@pytest.mark.parametrize("expr", ["float(v)", "int(v)", "v.__index__()", "bool(v)", "bool(e)", "len(s)",
                                  "list(s)", "hash(v)", "v.item()", "s.__index__()"])
def test_conversion_errors_match_jax(expr):
    def run(m):
        ns = {"v": m.array([1.0, 2.0]), "e": m.zeros(0), "s": m.array(2.0)}
        with pytest.raises((TypeError, ValueError)) as err:
            eval(expr, ns)
        return err
    got, want = run(inp), run(jnp)
    assert got.type is want.type
    if expr != "hash(v)":       # (JAX names its C++ class there)
        assert str(got.value) == str(want.value)


def test_numpy_conversion_len_iteration_tolist():
    m = np.arange(6, dtype=F32).reshape(2, 3)
    x = inp.array(m)
    a = np.asarray(x)
    assert isinstance(a, np.ndarray) and a.dtype == F32
    np.testing.assert_array_equal(a, m)
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert len(x) == 2
    rows = list(x)
    assert all(isinstance(r, irgrad.Array) for r in rows)
    assert [repr(r) for r in rows] == [repr(r) for r in jnp.array(m)]
    assert x.tolist() == m.tolist() and inp.array(2.5).tolist() == 2.5
    assert inp.array([[1, 2]]).tolist() == [[1, 2]]


def test_shape_properties_and_transpose():
    x, j = inp.array(RNG_DATA), jnp.array(RNG_DATA)
    assert (x.shape, x.ndim, x.size, x.dtype) == (j.shape, j.ndim, j.size, j.dtype) == ((3, 7), 2, 21, F32)
    assert repr(x.T) == repr(j.T)
    assert x.T.shape == (7, 3)


# ------------------------------------------------------------------ operators

OPERANDS = {
    "py_int": 3,
    "py_float": 2.5,
    "np_float32": np.float32(2.0),
    "np_float64": np.float64(2.0),
    "np_int32": np.int32(3),
    "np_f32_array": np.array([1.0, -2.0], F32),
    "np_f64_array": np.array([1.0, -2.0]),
    "np_int_array": np.array([4, 5]),
}
BINARY = ["+", "-", "*", "/", "**", "//", "%", "<", "<=", ">", ">=", "==", "!="]


def _eval(expr, **ns):
    return eval(expr, {"np": np}, ns)


@pytest.mark.parametrize("other", sorted(OPERANDS))
@pytest.mark.parametrize("side", ["left", "right"])
def test_operators_with_python_and_numpy(other, side):
    """`x op other` and `other op x` give the irgrad Array JAX gives (type, dtype,
    weak_type, values), including NumPy operands on the left."""
    o = OPERANDS[other]
    x, j = inp.array([1.5, 2.5]), jnp.array([1.5, 2.5])
    for op in BINARY:
        expr = f"x {op} o" if side == "left" else f"o {op} x"
        got, want = _eval(expr, x=x, o=o), _eval(expr, x=j, o=o)
        assert isinstance(got, irgrad.Array), (expr, type(got))
        assert (got.dtype, got.shape, got.weak_type) == (want.dtype, want.shape, want.weak_type), expr
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, err_msg=expr)


def test_scalar_array_with_numpy_scalar_on_left():
    got, want = np.float32(2) * inp.array(7.0), np.float32(2) * jnp.array(7.0)
    assert isinstance(got, irgrad.Array) and repr(got) == repr(want)
    got, want = np.ones(2) + inp.array(7.0), np.ones(2) + jnp.array(7.0)
    assert isinstance(got, irgrad.Array) and repr(got) == repr(want)


def test_matmul_unary_and_misc_operators():
    a, b = RNG_DATA[:, :3], RNG_DATA[:3, :2]
    x, j = inp.array(a), jnp.array(a)
    for expr in ["x @ b", "a @ (x.T @ x)", "-x", "+x", "abs(x)", "divmod(x, 2.0)", "divmod(3.0, x)",
                 "round(x[0, 0], 2)"]:
        got, want = _eval(expr, x=x, a=a, b=b), _eval(expr, x=j, a=a, b=b)
        got_l, want_l = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
        for g, w in zip(got_l, want_l):
            assert isinstance(g, irgrad.Array) and g.dtype == w.dtype and g.weak_type == w.weak_type, expr
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-6, atol=1e-6, err_msg=expr)
    ints = inp.array([1, 6])
    assert (ints << 2).tolist() == [4, 24] and (2 << ints).tolist() == [4, 128]
    assert (ints >> 1).tolist() == [0, 3] and (~ints).tolist() == [-2, -7]
    assert ((ints & 3) | 8).tolist() == [9, 10] and (ints ^ 7).tolist() == [6, 1]


def test_comparisons_give_bool_arrays():
    x = inp.array([1.0, 2.0, 3.0])
    assert repr(x > 2) == repr(jnp.array([1.0, 2.0, 3.0]) > 2)
    assert (x == np.array([1.0, 0.0, 3.0], F32)).tolist() == [True, False, True]
    assert (2.0 <= x).tolist() == [False, True, True]


# --------------------------------------------------------------- device residency

def test_jit_result_stays_on_device_until_read():
    f = irgrad.jit(lambda x: inp.tanh(x) * 2.0)
    y = f(np.array([0.5, -0.25], F32))
    assert y._host_value is None and y._device is not None
    assert y.shape == (2,) and y.dtype == F32 and not y.weak_type     # metadata without a transfer
    assert y._host_value is None
    z = f(y)                                                          # device in, device out
    assert z._host_value is None
    text = repr(y)
    assert y._host_value is not None
    assert text == repr(jnp.tanh(jnp.array([0.5, -0.25])) * 2.0)
    np.testing.assert_allclose(np.asarray(z), np.tanh(np.tanh([0.5, -0.25]) * 2) * 2, rtol=1e-6)
