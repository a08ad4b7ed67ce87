"""Tests for frontend/dtypes.py: JAX type promotion with x64 disabled, checked against JAX itself."""

from __future__ import annotations

import doctest
import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

try:
    import frontend.dtypes as D
except Exception:  # pragma: no cover - a sibling module in frontend/ is broken; test this file alone
    import importlib.util

    _path = os.path.join(ROOT, "frontend", "dtypes.py")
    _spec = importlib.util.spec_from_file_location("_irgrad_dtypes", _path)
    D = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(D)

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402
from jax._src import dtypes as jax_dtypes  # noqa: E402
from jax._src.lax import lax as lax_internal  # noqa: E402
from jax._src.numpy import util as jnp_util  # noqa: E402

SUPPORTED = [
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
]
KINDS = [(np.dtype(t), w) for t in SUPPORTED for w in (False, True)]


def _id(kind):
    dt, weak = kind
    return f"{dt.name}{'w' if weak else ''}"


def jax_operand(dt, weak):
    """A 0-d JAX array with (the x32-canonical form of) ``dt`` and the given weak flag."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strong = jnp.asarray(np.zeros((), dt))  # numpy 64-bit input is canonicalized by JAX
    if not weak:
        return strong
    return lax_internal._convert_element_type(strong, strong.dtype, weak_type=True)


def jax_dw(x):
    """(dtype, weak_type) of a JAX array (or a jax.ShapeDtypeStruct) as reported by JAX."""
    weak = x.weak_type if isinstance(x, jax.ShapeDtypeStruct) else x.aval.weak_type
    return np.dtype(x.dtype), bool(weak)


def jax_out(fn, *args):
    """(dtype, weak_type) of ``fn(*args)`` as JAX traces it. ``jax.eval_shape`` runs JAX's own
    promotion without compiling an XLA kernel per dtype pair (which cost ~20 ms each, ~25 s per file)."""
    return jax_dw(jax.eval_shape(fn, *args))


def test_jax_is_in_x32_mode():
    assert not jax.config.jax_enable_x64
    assert jnp.asarray(np.zeros(2, np.int64)).dtype == np.int32


def test_jax_operand_builder():
    for dt, weak in KINDS:
        x = jax_operand(dt, weak)
        assert jax_dw(x) == (jax_dtypes.canonicalize_dtype(dt), weak)


# ---------------------------------------------------------------------------
# canonicalize_dtype and predicates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("t", SUPPORTED, ids=lambda t: np.dtype(t).name)
def test_canonicalize_matches_jax(t):
    got = D.canonicalize_dtype(t)
    assert isinstance(got, np.dtype)
    assert got == jax_dtypes.canonicalize_dtype(t)
    assert D.canonicalize_dtype(np.dtype(t)) == got
    assert D.canonicalize_dtype(np.dtype(t).name) == got


def test_canonicalize_table():
    assert D.canonicalize_dtype(np.float64) == np.float32
    assert D.canonicalize_dtype(np.int64) == np.int32
    assert D.canonicalize_dtype(np.uint64) == np.uint32
    assert D.canonicalize_dtype(float) == np.float32
    assert D.canonicalize_dtype(int) == np.int32
    assert D.canonicalize_dtype(bool) == np.bool_
    assert D.canonicalize_dtype(np.float16) == np.float16
    assert D.canonicalize_dtype(np.uint8) == np.uint8


@pytest.mark.parametrize(
    "bad",
    [np.complex64, np.complex128, complex, object, "U3", np.longdouble, "datetime64[s]", jnp.bfloat16],
    ids=str,
)
def test_canonicalize_rejects_unsupported(bad):
    if np.dtype(bad) == np.float64:  # platforms where longdouble is float64
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError):
        D.canonicalize_dtype(bad)


def test_canonicalize_rejects_garbage():
    with pytest.raises(TypeError):
        D.canonicalize_dtype("not-a-dtype")


def test_complex_error_is_clear():
    with pytest.raises(TypeError, match="complex"):
        D.canonicalize_dtype(np.complex128)
    with pytest.raises(TypeError, match="complex"):
        D.dtype_and_weak(1j)


@pytest.mark.parametrize("t", SUPPORTED, ids=lambda t: np.dtype(t).name)
def test_predicates_match_jnp(t):
    assert D.is_float(t) == bool(jnp.issubdtype(t, jnp.floating))
    assert D.is_int(t) == bool(jnp.issubdtype(t, jnp.integer))
    assert D.is_bool(t) == bool(jnp.issubdtype(t, jnp.bool_))
    assert D.is_float(t) + D.is_int(t) + D.is_bool(t) == 1


def test_defaults_match_jax():
    assert np.dtype(D.default_float) == jax_dtypes.default_float_dtype()
    assert np.dtype(D.default_int) == jax_dtypes.default_int_dtype()
    assert np.dtype(D.default_uint) == jax_dtypes.default_uint_dtype()


# ---------------------------------------------------------------------------
# dtype_and_weak
# ---------------------------------------------------------------------------

PY_VALUES = [True, False, 0, 3, -7, 1.5, 0.0, bool, int, float]


@pytest.mark.parametrize("v", PY_VALUES, ids=repr)
def test_dtype_and_weak_python_matches_jax(v):
    assert D.dtype_and_weak(v) == jax_dtypes._dtype_and_weaktype(v)


def test_dtype_and_weak_python_values():
    assert D.dtype_and_weak(True) == (np.dtype(np.bool_), False)
    assert D.dtype_and_weak(1) == (np.dtype(np.int32), True)
    assert D.dtype_and_weak(1.0) == (np.dtype(np.float32), True)


@pytest.mark.parametrize("t", SUPPORTED, ids=lambda t: np.dtype(t).name)
def test_dtype_and_weak_numpy_matches_jax(t):
    arr = np.zeros((2, 3), t)
    scalar = t(1)
    want = jax_dtypes.canonicalize_dtype(t), False
    assert D.dtype_and_weak(arr) == want
    assert D.dtype_and_weak(scalar) == want  # np.float64 subclasses float but is strong
    assert D.dtype_and_weak(np.dtype(t)) == want
    assert D.dtype_and_weak(t) == want
    assert D.dtype_and_weak(np.dtype(t).name) == want
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert D.dtype_and_weak(arr) == jax_dw(jnp.asarray(arr))
        assert D.dtype_and_weak(scalar) == jax_dw(jnp.asarray(scalar))
        assert D.dtype_and_weak(scalar) == jax_dtypes._dtype_and_weaktype(scalar)


@pytest.mark.parametrize("kind", KINDS, ids=_id)
def test_dtype_and_weak_jax_arrays(kind):
    x = jax_operand(*kind)
    assert D.dtype_and_weak(x) == jax_dw(x)


def test_dtype_and_weak_jax_scalar_conversions():
    assert D.dtype_and_weak(jnp.asarray(1.0)) == (np.dtype(np.float32), True)
    assert D.dtype_and_weak(jnp.asarray(1)) == (np.dtype(np.int32), True)
    assert D.dtype_and_weak(jnp.float32(1.0)) == (np.dtype(np.float32), False)


def test_dtype_and_weak_inside_jit():
    seen = []

    @jax.jit
    def f(a, b):
        seen.append((D.dtype_and_weak(a), jax_dw(a), D.dtype_and_weak(b), jax_dw(b)))
        return a

    f(1.0, np.int8(1))
    ((ours_a, theirs_a, ours_b, theirs_b),) = seen
    assert ours_a == theirs_a == (np.dtype(np.float32), True)
    assert ours_b == theirs_b == (np.dtype(np.int8), False)


def test_dtype_and_weak_duck_typed():
    class Strong:
        dtype = np.dtype(np.float64)

    class Weak:
        dtype = np.dtype(np.int16)
        weak_type = True

    class Aval:
        class aval:  # noqa: N801
            weak_type = True

        dtype = np.dtype(np.float32)

    assert D.dtype_and_weak(Strong()) == (np.dtype(np.float32), False)
    assert D.dtype_and_weak(Weak()) == (np.dtype(np.int16), True)
    assert D.dtype_and_weak(Aval()) == (np.dtype(np.float32), True)


@pytest.mark.parametrize("bad", [None, [1, 2], "xxx", object()], ids=["None", "list", "str", "object"])
def test_dtype_and_weak_rejects(bad):
    with pytest.raises(TypeError):
        D.dtype_and_weak(bad)


# ---------------------------------------------------------------------------
# result_type: every pair of supported dtypes x {strong, weak}
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("a", KINDS, ids=_id)
@pytest.mark.parametrize("b", KINDS, ids=_id)
def test_result_type_pairs_match_jnp_add(a, b):
    x, y = jax_operand(*a), jax_operand(*b)
    assert D.result_type(a, b) == jax_out(jnp.add, x, y)
    assert D.result_type(b, a) == D.result_type(a, b)
    assert D.result_type(a, b) == jax_dtypes.lattice_result_type(x, y)
    # jnp.result_type reports weak results as the default dtype of their kind.
    want = jax_dtypes.result_type(x, y, return_weak_type_flag=True)
    assert D.result_type(a, b, normalize_weak=True) == want
    assert D.result_type(a, b, normalize_weak=True)[0] == jnp.result_type(x, y)


@pytest.mark.parametrize("a", KINDS, ids=_id)
def test_result_type_single_and_self(a):
    x = jax_operand(*a)
    assert D.result_type(a) == jax_dtypes.lattice_result_type(x)
    assert D.result_type(a, normalize_weak=True) == jax_dtypes.result_type(x, return_weak_type_flag=True)
    assert D.result_type(a, a, a) == jax_dtypes.lattice_result_type(x, x, x)


PY_SCALARS = [True, 2, 2.5]


@pytest.mark.parametrize("s", PY_SCALARS, ids=repr)
@pytest.mark.parametrize("a", KINDS, ids=_id)
def test_result_type_with_python_scalars(s, a):
    x = jax_operand(*a)
    want = jax_out(jnp.add, x, s)
    assert D.result_type(D.dtype_and_weak(s), a) == want
    assert D.result_type(D.dtype_and_weak(s), D.dtype_and_weak(x)) == want
    assert jax_out(jnp.add, s, x) == want


@pytest.mark.parametrize("s", PY_SCALARS, ids=repr)
@pytest.mark.parametrize("t", PY_SCALARS, ids=repr)
def test_result_type_python_scalar_pairs(s, t):
    assert D.result_type(D.dtype_and_weak(s), D.dtype_and_weak(t)) == jax_out(jnp.add, s, t)


@pytest.mark.parametrize("t", SUPPORTED, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("u", SUPPORTED, ids=lambda t: np.dtype(t).name)
def test_result_type_numpy_inputs(t, u):
    """Raw (possibly 64-bit) numpy arrays as JAX sees them: canonicalized before promotion."""
    a, b = np.zeros((), t), np.zeros((), u)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = jax_out(jnp.add, a, b)
    assert D.result_type(D.dtype_and_weak(a), D.dtype_and_weak(b)) == want
    assert D.result_type((t, False), (u, False)) == want


def test_all_triples_match_jax_lattice():
    ops = {k: jax_operand(*k) for k in KINDS}
    mismatches = []
    for a, b, c in itertools.product(KINDS, repeat=3):
        want = jax_dtypes.lattice_result_type(ops[a], ops[b], ops[c])
        if D.result_type(a, b, c) != want:
            mismatches.append((_id(a), _id(b), _id(c), D.result_type(a, b, c), want))
    assert not mismatches, mismatches[:10]


TRIPLES = [
    ((np.bool_, False), (np.int32, True), (np.float32, True)),
    ((np.uint8, False), (np.int8, False), (np.float32, True)),
    ((np.uint8, True), (np.int8, True), (np.int16, True)),
    ((np.int8, True), (np.int8, True), (np.float16, True)),
    ((np.uint32, False), (np.int8, False), (np.int32, True)),
    ((np.uint16, False), (np.int16, True), (np.float16, False)),
    ((np.int64, False), (np.uint64, False), (np.float64, True)),
    ((np.float16, False), (np.float32, True), (np.int32, False)),
    ((np.bool_, False), (np.bool_, False), (np.bool_, True)),
    ((np.uint16, True), (np.int8, False), (np.int16, True)),
]


@pytest.mark.parametrize("triple", TRIPLES, ids=lambda tr: "-".join(_id((np.dtype(t), w)) for t, w in tr))
def test_triples_match_jnp_promotion(triple):
    ops = [jax_operand(t, w) for t, w in triple]
    promoted = jnp_util.promote_dtypes(*ops)
    want = jax_dw(promoted[0])
    assert all(jax_dw(p) == want for p in promoted)
    assert D.result_type(*triple) == want
    # permutations agree
    for perm in itertools.permutations(triple):
        assert D.result_type(*perm) == want


def test_result_type_spot_checks():
    f32, f16, i32, u32 = (np.dtype(t) for t in (np.float32, np.float16, np.int32, np.uint32))
    assert D.result_type((np.int32, True), (np.float32, True)) == (f32, True)
    assert D.result_type((np.int32, False), (np.float32, True)) == (f32, True)
    assert D.result_type((np.bool_, False), (np.int32, True)) == (i32, True)
    assert D.result_type((np.float16, False), (np.float32, True)) == (f16, False)
    assert D.result_type((np.uint8, False), (np.int8, False)) == (np.dtype(np.int16), False)
    assert D.result_type((np.int32, False), (np.uint32, False)) == (i32, False)
    assert D.result_type((np.uint32, False), (np.int32, True)) == (u32, False)
    assert D.result_type((np.bool_, False), (np.bool_, False)) == (np.dtype(np.bool_), False)
    assert D.result_type((np.bool_, True), (np.bool_, True)) == (np.dtype(np.bool_), False)


def test_result_type_errors():
    with pytest.raises(ValueError):
        D.result_type()
    with pytest.raises(TypeError):
        D.result_type(np.float32)
    with pytest.raises(TypeError):
        D.result_type((np.complex64, False), (np.float32, False))


def test_lattice_is_jax_lattice_restricted():
    """Our declarative table equals JAX's x32 lattice restricted to the supported types."""
    jl = jax_dtypes._type_promotion_lattice(strict=False, x64=False)
    to_jax = {"i*": int, "f*": float}
    for node, dt in D._NODE_TO_DTYPE.items():
        if node not in to_jax:
            to_jax[node] = dt
    from_jax = {v: k for k, v in to_jax.items()}
    jub = jax_dtypes._make_lattice_upper_bounds(strict=False, x64=False)
    for node in D._LATTICE:
        theirs = {from_jax[t] for t in jub[to_jax[node]] if t in from_jax}
        assert set(D._UB[node]) == theirs, node
    for node, succs in D._LATTICE.items():
        assert set(succs) == {from_jax[t] for t in jl[to_jax[node]] if t in from_jax}, node


# ---------------------------------------------------------------------------
# float_result
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("a", KINDS, ids=_id)
def test_float_result_elementwise(a):
    x = jax_operand(*a)
    got = D.float_result(*a)
    assert got == jax_out(jnp.sqrt, x)
    assert got == jax_out(jnp.exp, x)
    assert got == jax_out(jnp.true_divide, x, x)
    assert got == jax_out(lambda u: u / u, x)


@pytest.mark.parametrize("a", KINDS, ids=_id)
def test_float_result_reduction(a):
    x = jax_operand(*a)
    assert D.float_result(*a, reduction=True) == jax_out(jnp.mean, x)
    assert D.float_result(*a, reduction=True) == jax_out(lambda u: jnp.mean(jnp.broadcast_to(u, (3,))), x)


@pytest.mark.parametrize("s", PY_SCALARS, ids=repr)
def test_float_result_python_scalars(s):
    assert D.float_result(*D.dtype_and_weak(s)) == jax_out(jnp.sqrt, s)


@pytest.mark.parametrize("a", KINDS, ids=_id)
@pytest.mark.parametrize("b", KINDS, ids=_id)
def test_float_result_binary_true_divide(a, b):
    x, y = jax_operand(*a), jax_operand(*b)
    assert D.float_result(*D.result_type(a, b)) == jax_out(jnp.true_divide, x, y)


# ---------------------------------------------------------------------------
# module hygiene
# ---------------------------------------------------------------------------


def test_docstring_examples():
    for name in D.__all__:
        obj = getattr(D, name)
        if callable(obj) and not isinstance(obj, type):
            assert obj.__doc__ and ">>>" in obj.__doc__, name
    result = doctest.testmod(D, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 10


def test_module_imports_only_numpy_and_stdlib():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('irgrad_dtypes', {D.__file__!r})\n"
        "before = set(sys.modules)\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "bad = sorted(m for m in new if m not in sys.stdlib_module_names and m != 'numpy'"
        " and not m.startswith('_'))\n"
        "assert not bad, bad\n"
        "assert mod.result_type((mod.np.uint8, False), (mod.np.int8, False))[0] == mod.np.int16\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
