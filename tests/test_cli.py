"""The `irgrad` command (frontend/cli.py): devices, export, inspect, run.

Exports a model file written here, once in a fresh process (`python -m irgrad`,
module-name form, --grad) and once in-process (`main(argv)`, .py path form), and
checks what `run` prints and saves against JAX. Two compiles.
"""

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib

import jax
import numpy as np
import pytest
from irgrad.frontend import cli
from irgrad.runtime import artifact

import irgrad

MODEL = textwrap.dedent("""
    import numpy as np
    import irgrad.numpy as jnp

    W = np.linspace(-1.0, 1.0, 100, dtype=np.float32).reshape(10, 10)

    def loss(w, b, x):
        return jnp.mean(jnp.tanh(x @ w + b) @ W)

    def predict(w, b, x):
        h = jnp.tanh(x @ w + b)
        return {"h": h, "logits": h @ W}
""")
RNG = np.random.default_rng(1)
ARGS = {"w": RNG.normal(size=(3, 10)).astype(np.float32), "b": RNG.normal(size=10).astype(np.float32),
        "x": RNG.normal(size=(2, 3)).astype(np.float32)}
SPECS = ["--arg", "f32[3,10]", "--arg", "f32[10]", "--arg", "f32[2,3]"]


def jax_model():
    """The model's functions with irgrad.numpy swapped for jax.numpy: the oracle."""
    namespace = {}
    exec(MODEL.replace("irgrad.numpy", "jax.numpy"), namespace)
    return namespace


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "mymodel.py").write_text(MODEL)
    for k, v in ARGS.items():
        np.save(d / f"{k}.npy", v)
    np.save(d / "pickled.npy", np.array([{"w": 1}], dtype=object), allow_pickle=True)   # needs pickle to read
    np.savez(d / "inputs.npz", **ARGS)
    return d


def irgrad_cmd(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "irgrad", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def grad_vmfb(workdir):
    """`python -m irgrad export mymodel:loss ... --grad` in a fresh process, from the model's folder."""
    proc = irgrad_cmd("export", "mymodel:loss", *SPECS, "--grad", "-o", "grad.vmfb", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote grad.vmfb: loss(float32[3,10], float32[10], float32[2,3]) -> float32[3,10]")
    return workdir / "grad.vmfb"


@pytest.fixture(scope="module")
def predict_vmfb(workdir):
    """`irgrad export path/to/mymodel.py:predict ...` through main(argv), in this process."""
    out = workdir / "predict.vmfb"
    assert cli.main(["export", str(workdir / "mymodel.py") + ":predict", *SPECS, "-o", str(out)]) == 0
    return out


def inputs(workdir):
    return [f"--input={workdir / k}.npy" for k in ("w", "b", "x")]


def test_export_with_grad_then_run_saves_jax_values(grad_vmfb, workdir):
    out = workdir / "g.npy"
    proc = irgrad_cmd("run", str(grad_vmfb), *inputs(workdir), "-o", str(out), cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    want = jax.grad(jax_model()["loss"])(ARGS["w"], ARGS["b"], ARGS["x"])
    np.testing.assert_allclose(np.load(out), want, rtol=1e-5, atol=1e-6)


def test_run_prints_each_output_leaf(predict_vmfb, workdir, capsys):
    assert cli.main(["run", str(predict_vmfb), *inputs(workdir)]) == 0
    text = capsys.readouterr().out
    blocks = re.split(r"^(out\['\w+'\]): (\w+)(\[[\d, ]*\])\n", text, flags=re.M)[1:]
    want = jax_model()["predict"](ARGS["w"], ARGS["b"], ARGS["x"])
    assert [b for b in blocks[0::4]] == ["out['h']", "out['logits']"]
    for path, dtype, shape, body in zip(*[blocks[i::4] for i in range(4)]):
        key = path[len("out['"):-2]
        assert dtype == "float32" and ast.literal_eval(shape) == list(want[key].shape)
        np.testing.assert_allclose(np.array(ast.literal_eval(body.strip())), want[key], rtol=1e-5, atol=1e-6)


def test_run_saves_npz_keyed_by_output_path(predict_vmfb, workdir):
    out = workdir / "p.npz"
    assert cli.main(["run", str(predict_vmfb), *inputs(workdir), "-o", str(out)]) == 0
    want = jax_model()["predict"](ARGS["w"], ARGS["b"], ARGS["x"])
    with np.load(out) as got:
        assert sorted(got.files) == ["out['h']", "out['logits']"]
        for key in ("h", "logits"):
            np.testing.assert_allclose(got[f"out['{key}']"], want[key], rtol=1e-5, atol=1e-6)


def test_inspect_shows_signature_target_versions_and_input_order(predict_vmfb, capsys):
    assert cli.main(["inspect", str(predict_vmfb)]) == 0
    text = capsys.readouterr().out
    assert "function:  predict  (entry @main)" in text
    assert "target:    cpu (llvm-cpu, CPU host on " in text
    assert f"artifact format {artifact.FORMAT_VERSION}, exported by irgrad {artifact.irgrad_version()}" in text
    assert re.search(r"  0: args\[0\] float32\[3,10\]\n  1: args\[1\] float32\[10\]\n  2: args\[2\] float32\[2,3\]",
                     text)
    assert "  0: out['h'] float32[2,10]\n  1: out['logits'] float32[2,10]" in text
    assert cli.main(["inspect", "--json", str(predict_vmfb)]) == 0
    meta = __import__("json").loads(capsys.readouterr().out)
    assert meta["function"] == "predict" and meta["out_tree"] == {"dict": [["h", "*"], ["logits", "*"]]}


def test_inspect_shows_the_sha256_and_runs_nothing(predict_vmfb, workdir, capsys, monkeypatch):
    digest = hashlib.sha256(predict_vmfb.read_bytes()).hexdigest()

    def runs(*args, **kwargs):
        raise AssertionError("inspect loaded the artifact's code")
    monkeypatch.setattr(artifact, "Executable", runs)
    assert cli.main(["inspect", str(predict_vmfb)]) == 0
    text = capsys.readouterr().out
    assert f"sha256:    {digest}\n" in text and f"irgrad run --sha256 {digest}" in text and "native code" in text
    assert cli.main(["inspect", "--json", str(predict_vmfb)]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == digest
    monkeypatch.undo()
    assert cli.main(["run", str(predict_vmfb), "--sha256", digest, *inputs(workdir)]) == 0
    assert "out['logits']: float32[2, 10]" in capsys.readouterr().out


def test_devices_lists_what_irgrad_devices_finds(capsys):
    assert cli.main(["devices"]) == 0
    text = capsys.readouterr().out
    listed = re.findall(r"^(\w+):(\d+)  (\w+\(id=\d+\))", text, flags=re.M)
    for platform in ("cpu", "vulkan", "cuda"):
        try:
            found = [(platform, str(d.id), repr(d)) for d in irgrad.devices(platform)]
        except RuntimeError:
            found = []
            assert re.search(rf"^{platform}: unavailable \(", text, flags=re.M)
        assert [row for row in listed if row[0] == platform] == found


@pytest.mark.parametrize("text, shape, dtype", [
    ("f32[64,10]", (64, 10), "float32"), ("i32[3]", (3,), "int32"), ("f32[]", (), "float32"),
    ("bool[2, 2]", (2, 2), "bool"), ("float16[1]", (1,), "float16"), ("u8[7]", (7,), "uint8"),
])
def test_parse_arg(text, shape, dtype):
    s = cli.parse_arg(text)
    assert (s.shape, s.dtype.name) == (shape, dtype)


@pytest.mark.parametrize("argv, message", [
    (["export", "mymodel.py:loss", "--arg", "f32[3", "-o", "x.vmfb"], r"expected DTYPE\[SHAPE\]"),
    (["export", "mymodel.py:loss", "--arg", "q7[3]", "-o", "x.vmfb"], "unknown dtype 'q7'"),
    (["export", "mymodel.py:nothing", "--arg", "f32[3]", "-o", "x.vmfb"], "has no attribute 'nothing'"),
    (["export", "mymodel.py", "-o", "x.vmfb"], "expected MODULE:FUNCTION"),
    (["inspect", "mymodel.py"], "is not a valid irgrad artifact: not an IREE module"),
    (["run", "grad.vmfb", "--input", "w.npy"], "takes 3 inputs"),
    (["run", "grad.vmfb", "--input", "inputs.npz"], "an .npz archive; pass one .npy file per input"),
    (["run", "grad.vmfb", "--sha256", "0" * 64, "--input", "w.npy", "--input", "b.npy", "--input", "x.npy"],
     "grad.vmfb has SHA-256 [0-9a-f]{64}, not the expected 0{64}; refusing to load it"),
    (["run", "grad.vmfb", "--input", "pickled.npy", "--input", "b.npy", "--input", "x.npy"],
     "--input pickled.npy: cannot read a .npy array .*allow_pickle=False"),
    (["run", "grad.vmfb", "--input", "b.npy", "--input", "w.npy", "--input", "x.npy"],
     r"argument args\[0\] is float32\[10\], but the function was exported for float32\[3,10\]"),
])
def test_errors_are_one_line_with_exit_code_1(argv, message, grad_vmfb, workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"irgrad {argv[0]}: error: ") and re.search(message, err), err


def test_console_script_is_declared():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    module, _, name = scripts["irgrad"].partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is cli.main
