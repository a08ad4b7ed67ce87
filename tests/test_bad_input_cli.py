"""Bad input to the `irgrad` command (frontend/cli.py) and to `irgrad-opt` (passes/opt.py): each
case is one line on stderr, exit status 1, naming the option or file, the expected form and,
for an error in the user's module, the user's file:line; nothing on disk is lost or half-written.

Runs main(argv) in-process from a folder holding the model files; two small exports.
"""

import os
import re
import shutil
import textwrap

import jax.numpy as jnp_ref
import numpy as np
import pytest
from irgrad.frontend import cli

MODEL = textwrap.dedent("""
    import irgrad.numpy as jnp

    def f(x):
        return jnp.sin(x) * 2

    def uses_missing(x):
        return jnp.not_a_function(x)

    def sq(x):
        return jnp.sum(x * x)
""")
MISSING_LINE = MODEL.splitlines().index("    return jnp.not_a_function(x)") + 1
BOOM = 'x = 1\nraise RuntimeError("boom at import")\n'


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("badcli")
    (d / "model.py").write_text(MODEL)
    (d / "boom.py").write_text(BOOM)
    np.save(d / "x32.npy", np.linspace(-1, 1, 3, dtype=np.float32))
    np.save(d / "x64.npy", np.linspace(-1, 1, 3, dtype=np.float64))
    (d / "random.npy").write_bytes(bytes(range(1, 200)))
    (d / "kept.vmfb").write_bytes(b"an earlier artifact the user keeps")
    assert cli.main(["export", str(d / "model.py") + ":f", "--arg", "f32[3]", "-o", str(d / "f.vmfb")]) == 0
    return d


def _run(argv, folder, capsys, monkeypatch):
    monkeypatch.chdir(folder)
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# argv -> regex the one error line must match (whole line, after "irgrad CMD: error: ")
CASES = [
    (["export", "model.py:uses_missing", "--arg", "f32[3]", "-o", "out.vmfb"],
     rf"model.py:{MISSING_LINE}: AttributeError: module 'irgrad.numpy' has no attribute 'not_a_function'"),
    (["export", "boom.py:f", "--arg", "f32[3]", "-o", "out.vmfb"], r"boom.py:2: RuntimeError: boom at import"),
    (["export", "model.py:f", "--arg", "f32[3]", "--has-aux", "-o", "out.vmfb"],
     r"--has-aux only applies with --grad .*; add --grad or drop --has-aux"),
    (["export", "model.py:f", "--arg", "f32[3]", "--cpu", "nonsense", "-o", "out.vmfb"],
     r"--cpu 'nonsense' is not a CPU LLVM knows for \w+; use 'host' \(this machine\), 'generic' .* such as .*"),
    (["export", "model.py:f", "--arg", "f32[b]", "-o", "out.vmfb"],
     r"--arg 'f32\[b\]': dimension 'b' is not a size; dynamic shapes are not supported: .*"),
    (["export", "model.py:f", "--arg", "f32[3,None]", "-o", "out.vmfb"], r".*dynamic shapes are not supported.*"),
    (["export", "model.py:f", "--arg", "f32[3]", "--arg", "f32[3]", "-o", "out.vmfb"],
     r"model.py:f: f\(x\) cannot take 2 --arg .*; give one --arg DTYPE\[SHAPE\] per positional argument"),
    # -o is checked before the module is imported: boom.py would raise otherwise
    (["export", "boom.py:f", "--arg", "f32[3]", "-o", "/nonexistent/out.vmfb"],
     r"-o /nonexistent/out.vmfb: cannot write there: its directory /nonexistent does not exist"),
    (["export", "boom.py:f", "--arg", "f32[3]", "-o", "."], r"-o \.: cannot write there: it is a directory"),
    (["run", "f.vmfb", "--input", "random.npy"],
     r"--input random.npy: not a .npy file \(it starts with b'.*'\); save each input with np.save"),
    (["run", "f.vmfb", "--input", "x32.npy", "-o", "/nonexistent/o.npz"],
     r"-o /nonexistent/o.npz: cannot write there: its directory /nonexistent does not exist"),
    (["run", "f.vmfb", "--input", "x32.npy", "--device", "nonsense"],
     r"--device 'nonsense': Unknown backend nonsense\. Available backends are .*"),
    (["run", "missing.vmfb", "--input", "x32.npy"],
     r"missing.vmfb: no such file; expected an artifact \(.vmfb\) written by `irgrad export`"),
    (["inspect", "missing.vmfb"], r"missing.vmfb: no such file; .*"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line(argv, message, folder, capsys, monkeypatch):
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    code, out, err = _run(argv, folder, capsys, monkeypatch)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and len(err) < 500, err           # one line, short
    prefix = f"irgrad {argv[0]}: error: "
    assert err.startswith(prefix) and re.fullmatch(message, err[len(prefix):].rstrip("\n")), err
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before                                          # nothing written or replaced
    assert "Traceback" not in err


def test_traceback_flag_shows_the_whole_traceback(folder, monkeypatch):
    monkeypatch.chdir(folder)
    with pytest.raises(RuntimeError, match="boom at import"):
        cli.main(["--traceback", "export", "boom.py:f", "--arg", "f32[3]", "-o", "out.vmfb"])


def test_float64_input_is_converted_with_a_warning(folder, capsys, monkeypatch):
    """As JAX's jit with jax_enable_x64=False, a float64 array for a float32 input is converted
    (not refused); the CLI says so on stderr. Values: JAX on the float32 input."""
    code, _, err = _run(["run", "f.vmfb", "--input", "x64.npy", "-o", "o.npy"], folder, capsys, monkeypatch)
    assert code == 0
    assert err == ("irgrad run: warning: --input x64.npy is float64; converted to the artifact's float32 (as JAX "
                   "converts float64 inputs with jax_enable_x64=False); save it as float32 to silence this\n")
    x = np.load(folder / "x64.npy").astype(np.float32)
    got = np.load(folder / "o.npy")
    os.remove(folder / "o.npy")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.asarray(jnp_ref.sin(x) * 2), rtol=1e-6)


def test_export_output_folder_vanishing_late_keeps_the_artifact(folder, tmp_path, capsys, monkeypatch):
    """-o's folder is deleted after the checks (while compiling): the artifact is written to a
    new temporary file named on stderr, and it runs."""
    out = tmp_path / "gone"
    out.mkdir()
    real_export = cli.export

    def export_then_vanish(*a, **k):
        exported = real_export(*a, **k)
        shutil.rmtree(out)
        return exported
    monkeypatch.setattr(cli, "export", export_then_vanish)
    code, stdout, err = _run(["export", "model.py:sq", "--arg", "f32[3]", "-o", str(out / "sq.vmfb")],
                             folder, capsys, monkeypatch)
    assert code == 0
    m = re.fullmatch(r"irgrad: warning: could not write -o \S+sq.vmfb \(No such file or directory\); "
                     r"wrote it to (\S+) instead\n", err)
    assert m, err
    saved = m.group(1)
    try:
        assert stdout.startswith(f"wrote {saved}: sq(float32[3]) -> float32[]")
        import irgrad
        x = np.array([1.0, -2.0, 3.0], np.float32)
        assert float(irgrad.load(saved)(x)) == pytest.approx(14.0)
    finally:
        os.remove(saved)


# ------------------------------------------------------------------ irgrad-opt

INT_ONLY = """
func.func @f(%x: tensor<3xi32>) -> tensor<3xi32> {
  %y = arith.addi %x, %x : tensor<3xi32>
  return %y : tensor<3xi32>
}
"""


@pytest.mark.parametrize("content, argv, message", [
    pytest.param(bytes(range(256)), ["--vjp", "f"], r"cannot read \S+: not a UTF-8 text file .*"),
    pytest.param(INT_ONLY.encode(), ["--vjp", "f"], r"@f has no float arguments to differentiate.*"),
])
def test_irgrad_opt_bad_input_is_one_line(content, argv, message, tmp_path, capsys):
    """irgrad-opt on a binary file, and --vjp of a function with no float argument."""
    from irgrad.passes import opt
    path = tmp_path / "in.mlir"
    path.write_bytes(content)
    assert opt.main([str(path), *argv, "-o", str(tmp_path / "out.mlir")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("irgrad-opt: error: ")
    assert re.fullmatch(message, err[len("irgrad-opt: error: "):].rstrip("\n")), err
    assert not (tmp_path / "out.mlir").exists()
