"""AOT artifacts: irgrad.export / irgrad.load (frontend/export.py, runtime/artifact.py).

Values are checked against JAX, and loaded artifacts against the in-process result:
in this process, in fresh processes (one with iree.compiler made unimportable) and
through IREE's own `iree-run-module`. Four functions are compiled for the module.
"""

import collections
import hashlib
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jjnp
import numpy as np
import pytest
from irgrad.frontend import export as export_mod
from irgrad.frontend.tree_util import tree_structure
from irgrad.runtime import artifact, executable

import irgrad
import irgrad.numpy as jnp

RNG = np.random.default_rng(0)
# Closed over by the functions below: 100 elements, so the tracer captures it as an
# argument and export must bake it into the module as a constant.
W = RNG.normal(size=(10, 10)).astype(np.float32)
PARAMS = {"w": RNG.normal(size=(3, 10)).astype(np.float32), "b": RNG.normal(size=10).astype(np.float32)}
X = RNG.normal(size=(2, 3)).astype(np.float32)
Stats = collections.namedtuple("Stats", ["total", "scaled"])


def make_loss(np_):
    def loss(p, x):
        y = np_.tanh(x @ p["w"] + p["b"]) @ W
        return np_.mean(y ** 2), {"y": y}
    return loss


def make_stats(np_):
    def stats(x, scale, n):
        return Stats(np_.sum(x * scale, axis=0), [x * scale + n, None])
    return stats


def jax_grad():
    return jax.grad(make_loss(jjnp), has_aux=True)(PARAMS, X)


@pytest.fixture(scope="module")
def grad_export():
    x_spec = irgrad.ShapeDtypeStruct(X.shape, np.float32)
    return irgrad.export(irgrad.grad(make_loss(jnp), has_aux=True), PARAMS, x_spec)


@pytest.fixture(scope="module")
def grad_file(grad_export, tmp_path_factory):
    path = tmp_path_factory.mktemp("artifacts") / "grad.vmfb"
    grad_export.save(path)
    return path


@pytest.fixture(scope="module")
def stats_export():
    """jit of a function with a weak-typed Python scalar, an int input and a namedtuple out."""
    return irgrad.export(irgrad.jit(make_stats(jnp)), X, 2.0, np.int32(3))


def assert_tree_close(got, want, **tol):
    assert tree_structure(got) == tree_structure(want)
    for g, w in zip(irgrad.tree_util.tree_leaves(got), irgrad.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **{"rtol": 1e-5, "atol": 1e-6, **tol})


# -------------------------------------------------------------------- export itself


def test_grad_with_aux_and_dict_params_matches_jax(grad_export):
    got = grad_export(PARAMS, X)
    assert_tree_close(got, jax_grad())
    assert isinstance(got[0]["w"], irgrad.Array)


def test_signature_describes_the_pytrees(grad_export):
    e = grad_export
    assert e.in_tree == tree_structure((PARAMS, X))
    assert e.out_tree == tree_structure(({"b": 0, "w": 0}, {"y": 0}))
    assert [(a.shape, a.dtype.name) for a in e.in_avals] == [((10,), "float32"), ((3, 10), "float32"),
                                                              ((2, 3), "float32")]
    assert [a.shape for a in e.out_avals] == [(10,), (3, 10), (2, 10)]
    assert e.target == "cpu" and e.meta["format"] == artifact.FORMAT_VERSION
    assert e.signature() == ("loss({'b': float32[10], 'w': float32[3,10]}, float32[2,3]) -> "
                             "({'b': float32[10], 'w': float32[3,10]}, {'y': float32[2,10]})")


def test_captured_constant_is_baked_into_the_module(grad_export):
    text = grad_export.mlir_text()
    main = next(line for line in text.splitlines() if "func.func @main(" in line)
    assert main.count("%arg") == 3, main                 # b, w, x: no argument for W
    assert "tensor<10x10xf32>" in text.split("func.func @main(")[1]   # W is a constant inside
    assert artifact.ARTIFACT_KEY in text


def test_shape_dtype_structs_and_arrays_export_the_same_module(grad_export):
    specs = irgrad.tree_util.tree_map(lambda a: irgrad.ShapeDtypeStruct(a.shape, a.dtype), PARAMS)
    again = irgrad.export(irgrad.grad(make_loss(jnp), has_aux=True), specs, X)   # same IR: a compile-cache hit
    assert again.mlir_text() == grad_export.mlir_text()
    assert again.serialize() == grad_export.serialize()


def test_weak_scalar_int_input_and_namedtuple_output(stats_export):
    e = stats_export
    assert [(a.dtype.name, a.weak_type) for a in e.in_avals] == [("float32", False), ("float32", True),
                                                                  ("int32", False)]
    got = e(X, 2.0, np.int32(3))
    want = make_stats(np)(X, np.float32(2.0), 3)
    assert type(got) is Stats and got.scaled[1] is None
    assert_tree_close(got, want)
    assert got.total.weak_type is False


def test_float64_inputs_are_canonicalized_to_float32(stats_export):
    got = stats_export(X.astype(np.float64), 2.0, 3)      # as jit: x64 is off
    assert_tree_close(got, make_stats(np)(X, np.float32(2.0), 3))


# ----------------------------------------------------------------------- load


def test_load_from_file_and_from_bytes(grad_export, grad_file):
    assert grad_file.read_bytes() == grad_export.serialize()
    for source in (grad_file, str(grad_file), grad_export.serialize()):
        f = irgrad.load(source)
        assert f.in_tree == grad_export.in_tree and f.out_avals == grad_export.out_avals
        assert_tree_close(f(PARAMS, X), jax_grad())


def test_loaded_artifact_takes_device_arrays(grad_file):
    f = irgrad.load(grad_file)
    params = irgrad.tree_util.tree_map(jnp.asarray, PARAMS)
    g, _ = f(params, jnp.asarray(X))
    assert all(leaf._device is not None for leaf in g.values())
    uploads = executable.transfers["to_device"]
    g2, _ = f(g, X)                 # the outputs go back in as they are; only X is uploaded
    assert executable.transfers["to_device"] == uploads + 1
    host = irgrad.tree_util.tree_map(np.asarray, g)
    assert_tree_close(g2, jax.grad(make_loss(jjnp), has_aux=True)(host, X)[0], rtol=1e-4)


FRESH = """
import sys, json
sys.modules["iree.compiler"] = None         # any import of the compiler now raises ImportError
import numpy as np
import irgrad
f = irgrad.load(sys.argv[1])
inputs = np.load(sys.argv[2])
grads, aux = f({"b": inputs["b"], "w": inputs["w"]}, inputs["x"])
np.savez(sys.argv[3], b=grads["b"], w=grads["w"], y=aux["y"])
try:
    irgrad.jit
    jit_error = None
except ImportError as e:
    jit_error = str(e)
print(json.dumps({"jit_error": jit_error, "signature": f.signature(),
                  "compiler_modules": sorted(m for m in sys.modules if m.startswith("iree.compiler")
                                             and sys.modules[m] is not None)}))
"""


def test_fresh_process_without_compiler_loads_and_runs(grad_export, grad_file, tmp_path):
    inputs, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, x=X, **PARAMS)
    proc = subprocess.run([sys.executable, "-c", FRESH, str(grad_file), str(inputs), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["compiler_modules"] == []
    assert "iree-base-compiler" in info["jit_error"] and "irgrad.load" in info["jit_error"]
    assert info["signature"] == grad_export.signature()
    here_g, here_aux = grad_export(PARAMS, X)
    with np.load(out) as got:
        for k in ("b", "w"):
            np.testing.assert_array_equal(got[k], np.asarray(here_g[k]))
        np.testing.assert_array_equal(got["y"], np.asarray(here_aux["y"]))


def test_iree_run_module_runs_the_artifact(grad_export, grad_file, tmp_path):
    tool = os.path.join(os.path.dirname(sys.executable), "iree-run-module")
    if not os.path.exists(tool):
        pytest.skip("iree-run-module is not installed next to this Python")
    leaves = irgrad.tree_util.tree_leaves((PARAMS, X))   # flattened in_tree order: b, w, x
    args = [tool, f"--module={grad_file}", "--function=main", "--device=local-task"]
    for i, leaf in enumerate(leaves):
        np.save(tmp_path / f"in{i}.npy", leaf)
        args.append(f"--input=@{tmp_path / f'in{i}.npy'}")
    args += [f"--output=@{tmp_path / f'out{i}.npy'}" for i in range(3)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    want = irgrad.tree_util.tree_leaves(grad_export(PARAMS, X))
    for i, w in enumerate(want):
        np.testing.assert_array_equal(np.load(tmp_path / f"out{i}.npy"), np.asarray(w))


# ------------------------------------------------------------------------- errors


def test_wrong_shape_dtype_or_structure_is_a_clear_type_error(grad_file):
    f = irgrad.load(grad_file)
    bad_w = {"w": np.zeros((4, 10), np.float32), "b": PARAMS["b"]}
    with pytest.raises(TypeError, match=r"argument args\[0\]\['w'\] is float32\[4,10\], but the function was "
                                        r"exported for float32\[3,10\]"):
        f(bad_w, X)
    with pytest.raises(TypeError, match=r"argument args\[1\] is int32\[2,3\].*float32\[2,3\]"):
        f(PARAMS, X.astype(np.int32))
    with pytest.raises(TypeError, match=r"pytree structure PyTreeDef\(\(\{'b': \*, 'w': \*\}, \*\)\); got"):
        f(PARAMS)


@pytest.mark.parametrize("damage", ["truncated", "random", "flipped_byte", "empty", "text"])
def test_corrupt_file_is_a_clear_error(grad_export, tmp_path, damage):
    good = grad_export.serialize()
    bad = {"truncated": good[: len(good) // 2], "random": RNG.bytes(len(good)), "empty": b"",
           "flipped_byte": good[:len(good) // 3] + bytes([good[len(good) // 3] ^ 0xFF]) + good[len(good) // 3 + 1:],
           "text": b"def loss(w):\n    return w\n"}[damage]
    path = tmp_path / "bad.vmfb"
    path.write_bytes(bad)
    with pytest.raises(ValueError, match=rf"{path} is not a valid irgrad artifact: ") as info:
        irgrad.load(path)
    assert isinstance(info.value, irgrad.ArtifactError)


def test_plain_iree_module_is_not_an_artifact():
    from irgrad.runtime.compiler import compile_mlir
    vmfb = compile_mlir("func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> { return %x : tensor<2xf32> }")
    with pytest.raises(irgrad.ArtifactError, match="carries no irgrad metadata.*plain IREE module"):
        irgrad.load(vmfb)


def test_newer_format_names_both_versions(monkeypatch):
    monkeypatch.setattr(artifact, "FORMAT_VERSION", artifact.FORMAT_VERSION + 1)
    newer = irgrad.export(lambda x: x * 3.0, irgrad.ShapeDtypeStruct((2,), np.float32)).serialize()
    monkeypatch.undo()
    with pytest.raises(irgrad.ArtifactError, match=rf"in artifact format {artifact.FORMAT_VERSION + 1}; this irgrad "
                                                   rf"\S+ reads formats {artifact.MIN_FORMAT_VERSION} to "
                                                   rf"{artifact.FORMAT_VERSION}\. Upgrade irgrad"):
        irgrad.load(newer)


def test_older_format_no_longer_read(grad_export, monkeypatch):
    monkeypatch.setattr(artifact, "MIN_FORMAT_VERSION", artifact.FORMAT_VERSION + 1)
    with pytest.raises(irgrad.ArtifactError, match=rf"format {artifact.FORMAT_VERSION}, which this irgrad .* no "
                                                   "longer reads.*re-export it"):
        irgrad.load(grad_export.serialize())


def test_wrong_device_is_a_clear_error(grad_export):
    with pytest.raises(ValueError, match="compiled for cpu and cannot run on vulkan; re-export it with "
                                         "target='vulkan'"):
        irgrad.load(grad_export.serialize(), device="vulkan")


def test_unsupported_pytree_nodes_fail_at_export_time():
    @irgrad.tree_util.register_pytree_node_class
    class Box:
        def __init__(self, x):
            self.x = x

        def tree_flatten(self):
            return (self.x,), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    with pytest.raises(TypeError, match="input pytree contains a Box node; artifacts describe tuples, lists"):
        irgrad.export(lambda b: b.x * 2, Box(np.ones(2, np.float32)))
    with pytest.raises(TypeError, match=r"dict key \(1, 2\) of type tuple"):
        irgrad.export(lambda d: d[(1, 2)], {(1, 2): np.ones(2, np.float32)})
    with pytest.raises(TypeError, match="static arguments"):
        irgrad.export(irgrad.jit(lambda x, n: x * n, static_argnums=1), np.ones(2, np.float32), 3)
    with pytest.raises(TypeError, match=r"argument args\[1\] is 'a' of type str, not an array"):
        irgrad.export(lambda x, s: x, np.ones(2, np.float32), "a")


# ------------------------------------------------------------- pytree descriptions

Point = collections.namedtuple("Point", ["x", "y"])


@pytest.mark.parametrize("tree", [
    (1, [2, None], {"b": 3, "a": (4,)}),
    {3: 1, 1: 2},
    collections.OrderedDict([("z", 1), ("a", [2, 3])]),
    Point(1, Point(2, ())),
    None,
    5,
    [],
])
def test_tree_descriptions_round_trip_through_json(tree):
    treedef = tree_structure(tree)
    text = json.dumps(export_mod.tree_to_json(treedef))
    back = export_mod.tree_from_json(json.loads(text))
    assert back == treedef
    assert repr(back) == repr(treedef)


def test_namedtuple_of_an_unimported_module_is_rebuilt_by_name():
    spec = {"namedtuple": "Pair", "module": "not_imported_anywhere", "fields": ["lo", "hi"], "children": ["*", "*"]}
    rebuilt = export_mod.tree_from_json(spec).unflatten([1, 2])
    assert type(rebuilt).__name__ == "Pair" and rebuilt.lo == 1 and rebuilt.hi == 2
    assert export_mod.tree_from_json(spec) == export_mod.tree_from_json(spec)   # one type per name and fields


# ------------------------------------------------------------------------ devices


def _has_vulkan():
    try:
        return bool(irgrad.devices("vulkan"))
    except RuntimeError:
        return False


@pytest.mark.skipif(not _has_vulkan(), reason="no Vulkan device")
def test_vulkan_artifact_runs_on_vulkan(tmp_path):
    def f(x, y):
        return jnp.sum(jnp.tanh(x) * y, axis=1), x * 2.0
    x, y = RNG.normal(size=(3, 4)).astype(np.float32), RNG.normal(size=(3, 4)).astype(np.float32)
    path = tmp_path / "v.vmfb"
    irgrad.export(f, x, y, target="vulkan").save(path)
    loaded = irgrad.load(path)
    assert loaded.device.platform == "vulkan"
    got = loaded(x, y)
    assert got[0].device.platform == "vulkan"
    assert_tree_close(got, (np.sum(np.tanh(x) * y, axis=1), x * 2))


def test_cuda_artifact_compiles_without_a_gpu():
    x = np.arange(4, dtype=np.float32)
    exp = irgrad.export(lambda v: jnp.exp(v) + 1.0, x, target="cuda")
    assert (exp.target, exp.meta["backend"]) == ("cuda", "cuda")
    with pytest.raises(ValueError, match="compiled for cuda and cannot run on cpu"):
        irgrad.load(exp.serialize(), device="cpu")
    try:
        irgrad.devices("cuda")
    except RuntimeError:
        with pytest.raises(RuntimeError, match="cuda"):
            irgrad.load(exp.serialize())
    else:
        np.testing.assert_allclose(np.asarray(irgrad.load(exp.serialize())(x)), np.exp(x) + 1, rtol=1e-6)


# ------------------------------------------------------------------ an artifact is code (issue #19)


def test_expected_sha256_loads_only_that_artifact(grad_export, grad_file, monkeypatch):
    digest = hashlib.sha256(grad_file.read_bytes()).hexdigest()
    assert grad_export.sha256 == digest
    f = irgrad.load(grad_file, expected_sha256=digest.upper())
    assert f.sha256 == digest
    assert_tree_close(f(PARAMS, X), jax_grad())
    other = irgrad.export(lambda x: x * 3.0, irgrad.ShapeDtypeStruct((2,), np.float32)).serialize()

    def parsed(*args):
        raise AssertionError("the artifact was parsed before its hash was checked")
    monkeypatch.setattr(artifact, "vm_module", parsed)
    with pytest.raises(irgrad.ArtifactError, match=rf"<bytes> has SHA-256 {hashlib.sha256(other).hexdigest()}, "
                                                   rf"not the expected {digest}; refusing to load it"):
        irgrad.load(other, expected_sha256=digest)
    with pytest.raises(ValueError, match="is not 64 hex digits"):
        irgrad.load(other, expected_sha256="abc")


def test_load_docstring_says_an_artifact_is_code():
    assert "native machine code" in irgrad.load.__doc__ and "expected_sha256" in irgrad.load.__doc__
