"""Errors users see, in JAX's words where JAX has them, naming the user's file:line;
IR failures become irgrad.IRError with the IR written to a file."""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from irgrad.frontend import primitives
from irgrad.passes.ir import arith, collapse
from irgrad.runtime import errors
from irgrad.runtime.compiler import compile_mlir

import irgrad
import irgrad.numpy as inp

F32 = np.float32
SOURCE = pathlib.Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """1-based line number of the line in this file ending with `# <marker>`."""
    hits = [i for i, line in enumerate(SOURCE, 1) if line.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def where(marker: str) -> str:
    return f"{__file__}:{line_of(marker)}"


def messages(run_irgrad, run_jax, exc=Exception):
    with pytest.raises(exc) as ig:
        run_irgrad()
    with pytest.raises(exc) as jx:
        run_jax()
    return ig.value, jx.value


# ----------------------------------------------------------------------------- grad

def test_non_scalar_output():
    ig, jx = messages(lambda: irgrad.grad(lambda x: x * 2)(np.ones(2, F32)),
                      lambda: jax.grad(lambda x: x * 2)(np.ones(2, F32)), TypeError)
    assert str(ig) == str(jx) == "Gradient only defined for scalar-output functions. Output had shape: (2,)."
    with pytest.raises(TypeError, match=re.escape("Output had shape: (2, 3).")):
        irgrad.jit(irgrad.grad(lambda x: x * 2))(np.ones((2, 3), F32))


@pytest.mark.parametrize("value", [3, True, np.arange(3), np.ones(2, np.uint8), np.int32(1)],
                         ids=["int", "bool", "int_array", "uint8", "np_int32"])
def test_integer_and_bool_inputs(value):
    ig, jx = messages(lambda: irgrad.grad(lambda x: x)(value), lambda: jax.grad(lambda x: x)(value), TypeError)
    assert str(ig) == str(jx)
    assert "grad requires real- or complex-valued inputs" in str(ig)


def test_integer_output():
    ig, jx = messages(lambda: irgrad.grad(lambda x: (x > 0).astype(np.int32))(1.0),
                      lambda: jax.grad(lambda x: (x > 0).astype(np.int32))(1.0), TypeError)
    assert str(ig) == str(jx)


def test_argnums_out_of_range():
    ig, jx = messages(lambda: irgrad.grad(lambda x: x, argnums=3)(1.0),
                      lambda: jax.grad(lambda x: x, argnums=3)(1.0), TypeError)
    assert str(ig) == str(jx)


def test_has_aux_without_pair():
    with pytest.raises(TypeError, match="expected function with aux output to return a two-element tuple"):
        irgrad.grad(lambda x: x * 2.0, has_aux=True)(1.0)


def test_string_as_differentiated_argument():
    ig, jx = messages(lambda: irgrad.grad(lambda x: 1.0)("a"), lambda: jax.grad(lambda x: 1.0)("a"), TypeError)
    assert str(ig) == str(jx) == "Argument 'a' of type <class 'str'> is not a valid JAX type."


# -------------------------------------------------------------------- concretization

def branch(x):
    if x > 0:  # branch-if
        return x
    return -x


def to_bool(x):
    return x * bool(x)  # to-bool


def to_float(x):
    return x * float(x)  # to-float


def to_int(x):
    return x * int(x)  # to-int


def to_index(x):
    return list(range(x))  # to-index


def to_numpy(x):
    return np.sin(x)  # to-numpy


CONCRETE = [
    (branch, "branch-if", irgrad.errors.TracerBoolConversionError, 1.0),
    (to_bool, "to-bool", irgrad.errors.TracerBoolConversionError, 1.0),
    (to_float, "to-float", irgrad.ConcretizationTypeError, 1.0),
    (to_int, "to-int", irgrad.ConcretizationTypeError, 1.0),
    (to_index, "to-index", irgrad.errors.TracerIntegerConversionError, 3),
    (to_numpy, "to-numpy", irgrad.errors.TracerArrayConversionError, np.ones(2, F32)),
]


@pytest.mark.parametrize("fun,marker,cls,arg", CONCRETE, ids=[c[1] for c in CONCRETE])
def test_concretization_inside_jit(fun, marker, cls, arg):
    ig, jx = messages(lambda: irgrad.jit(fun)(arg), lambda: jax.jit(fun)(arg))
    assert isinstance(ig, cls) and isinstance(ig, irgrad.ConcretizationTypeError) and isinstance(ig, TypeError)
    assert where(marker) in str(ig), str(ig)
    first = str(jx).splitlines()[0]
    assert str(ig).splitlines()[0] == first       # JAX's first line, word for word
    assert f"the function {fun.__name__} for jit" in str(ig)


def test_concretization_is_catchable_and_jit_still_works():
    f = irgrad.jit(branch)
    for _ in range(2):
        with pytest.raises(irgrad.ConcretizationTypeError):
            f(np.float32(2.0))
    assert not irgrad.frontend.core.trace_stack()
    assert float(irgrad.jit(lambda x: inp.where(x > 0, x, -x))(-2.0)) == 2.0


# ------------------------------------------------------------------------- shapes

def add_3_4(x):
    return inp.ones(3) + x  # add-jit


def matmul_mismatch(a, b):
    return a @ b  # matmul-jit


def test_incompatible_shapes_eager_and_jit():
    with pytest.raises(TypeError) as eager:
        inp.ones(3) + inp.ones(4)  # add-eager
    with pytest.raises(TypeError) as jx:
        jnp.ones(3) + jnp.ones(4)
    with pytest.raises(TypeError) as jitted:
        irgrad.jit(add_3_4)(np.ones(4, F32))
    assert str(eager.value).startswith(str(jx.value))      # "add got incompatible shapes ...: (3,), (4,)."
    assert where("add-eager") in str(eager.value)
    assert str(jitted.value).startswith(str(jx.value)) and where("add-jit") in str(jitted.value)


def test_matmul_shape_mismatch_eager_and_jit():
    with pytest.raises(TypeError) as eager:
        inp.ones((2, 3)) @ inp.ones((4, 2))  # matmul-eager
    with pytest.raises(TypeError) as jitted:
        irgrad.jit(matmul_mismatch)(np.ones((2, 3), F32), np.ones((4, 2), F32))
    for err, marker in ((eager.value, "matmul-eager"), (jitted.value, "matmul-jit")):
        msg = str(err)
        assert "matmul" in msg and "(2, 3)" in msg and "(4, 2)" in msg and where(marker) in msg, msg


# -------------------------------------------------------------------- jit arguments

def passthrough(x, options):
    return x


def test_non_array_argument_to_jit():
    """Same message as JAX (same function object, so the same repr)."""
    for options in ("fast", {"mode": [1.0, "fast"]}):
        ig, jx = messages(lambda: irgrad.jit(passthrough)(1.0, options),
                          lambda: jax.jit(passthrough)(1.0, options), TypeError)
        assert str(ig) == str(jx)
    ig, jx = messages(lambda: irgrad.jit(passthrough)(1.0, options=object()),
                      lambda: jax.jit(passthrough)(1.0, options=object()), TypeError)
    assert str(ig).split("<object object")[0] == str(jx).split("<object object")[0]
    assert "path options" in str(ig)


def test_string_marked_static_is_fine():
    f = irgrad.jit(lambda x, mode: x * 2.0 if mode == "double" else x, static_argnums=1)
    assert float(f(1.5, "double")) == 3.0 and float(f(1.5, "same")) == 1.5


def test_unhashable_static_argument():
    ig, jx = messages(lambda: irgrad.jit(passthrough, static_argnums=1)(1.0, [1, 2]),
                      lambda: jax.jit(passthrough, static_argnums=1)(1.0, [1, 2]), ValueError)
    assert str(ig) == str(jx)


@pytest.mark.parametrize("kwargs", [{"foo": 1}, {"platform": "cpu"}, {"static_argnum": 1}])
def test_unknown_jit_keyword(kwargs):
    ig, jx = messages(lambda: irgrad.jit(passthrough, **kwargs), lambda: jax.jit(passthrough, **kwargs), TypeError)
    assert str(ig) == str(jx) == f"jit() got an unexpected keyword argument '{next(iter(kwargs))}'"


def test_unknown_jit_keyword_without_a_function():
    ig, jx = messages(lambda: irgrad.jit(static_argnums=1, foo=1), lambda: jax.jit(static_argnums=1, foo=1),
                      TypeError)
    assert str(ig) == str(jx)


def test_jit_options_without_effect_are_accepted():
    x = np.arange(3.0, dtype=F32)
    f = irgrad.jit(lambda x: x * 2.0, donate_argnums=0, keep_unused=True, inline=True, backend="cpu")
    np.testing.assert_array_equal(np.asarray(f(x)), x * 2)


def test_non_array_output_of_jit():
    with pytest.raises(TypeError, match="returned a value of type <class 'str'> at output component"):
        irgrad.jit(lambda x: (x, "label"))(1.0)


def test_escaped_tracer():
    leaked = []

    def f(x):
        leaked.append(x)
        return x
    irgrad.jit(f)(1.0)
    with pytest.raises(irgrad.UnexpectedTracerError):
        irgrad.jit(lambda y: y + leaked[0])(2.0)


# ------------------------------------------------------------------------ IR errors

def bad_sin_lowering(out, ins, v, **params):
    """Emits arith.addf on tensor<2x3xf32> and tensor<6xf32>: the verifier rejects it."""
    return arith.addf(v, collapse(v, [[0, 1]], (6,)))


def test_verifier_failure_becomes_ir_error(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGRAD_DUMP_DIR", str(tmp_path))
    monkeypatch.setattr(primitives.PRIMITIVES["sin"], "lower", bad_sin_lowering)
    with pytest.raises(irgrad.IRError) as err:
        irgrad.jit(lambda x: inp.sin(x) * 2.0)(np.ones((2, 3), F32))
    msg = str(err.value)
    assert "'arith.addf' op requires the same type for all operands and results" in msg
    path = pathlib.Path(re.search(r"IR written to (\S+)", msg).group(1))
    assert path.parent == tmp_path and path.exists()
    text = path.read_text()
    assert "func.func" in text and "arith.addf" in text and "tensor<6xf32>" in text
    monkeypatch.undo()
    assert not irgrad.frontend.core.trace_stack()
    out = irgrad.jit(lambda x: inp.sin(x) * 2.0)(np.ones((2, 3), F32))
    np.testing.assert_allclose(np.asarray(out), 2 * np.sin(np.ones((2, 3))), rtol=1e-6)


BAD_IR = """func.func @main(%a: tensor<2xf32>) -> tensor<3xf32> {
  return %a : tensor<2xf32>
}
"""


def test_compiler_failure_becomes_ir_error(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGRAD_DUMP_DIR", str(tmp_path))
    with pytest.raises(irgrad.IRError) as err:
        compile_mlir(BAD_IR, name="bad_module")
    msg = str(err.value)
    assert "bad_module" in msg and "doesn't match function result type" in msg
    path = pathlib.Path(re.search(r"IR written to (\S+)", msg).group(1))
    assert path.exists() and path.read_text() == BAD_IR


# IR dumps (issue #19): never through a symlink planted in a shared folder.

def _plant_symlinks(folder, text, what, victim):
    """Links at the names a dump of `text` could predictably take, all to `victim`."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    for name in (f"{what}-{digest}.mlir", f"{what}.mlir"):
        os.symlink(victim, folder / name)


def _check_dump(path, text, victim):
    assert victim.read_text() == "precious"
    assert path.is_file() and not path.is_symlink() and path.read_text() == text
    assert path.stat().st_mode & 0o777 == 0o600


def test_dump_in_a_shared_folder_does_not_follow_a_planted_symlink(tmp_path, monkeypatch):
    shared, victim = tmp_path / "shared", tmp_path / "victim.txt"
    shared.mkdir()
    os.chmod(shared, 0o1777)                  # like /tmp
    victim.write_text("precious")
    _plant_symlinks(shared, BAD_IR, "bad", victim)
    monkeypatch.setenv("IRGRAD_DUMP_DIR", str(shared))
    path = pathlib.Path(errors.dump_ir(BAD_IR, "bad"))
    assert path.parent == shared
    _check_dump(path, BAD_IR, victim)
    again = pathlib.Path(errors.dump_ir(BAD_IR, "bad"))   # the same IR twice: two files
    assert again != path and again.read_text() == BAD_IR


def test_default_dumps_go_to_a_private_folder_of_this_process(tmp_path, monkeypatch):
    monkeypatch.delenv("IRGRAD_DUMP_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(errors, "_private_dir", None, raising=False)
    planted, victim = tmp_path / "irgrad-ir-dumps", tmp_path / "victim.txt"   # the old fixed folder
    planted.mkdir()
    os.chmod(planted, 0o777)
    victim.write_text("precious")
    _plant_symlinks(planted, BAD_IR, "bad", victim)
    path = pathlib.Path(errors.dump_ir(BAD_IR, "bad"))
    _check_dump(path, BAD_IR, victim)
    assert path.parent.parent == tmp_path and path.parent != planted
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert pathlib.Path(errors.dump_ir("module {}", "other")).parent == path.parent
