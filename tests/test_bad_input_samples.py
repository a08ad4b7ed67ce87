"""Bad input to the sample trainers (samples/): every case is refused with one line naming the
option, the expected form and what was found, before any data is loaded or epoch run, and
nothing already on disk is lost or half-written. A finished result whose path went away during
training is written elsewhere and the new path printed. SIGKILL while a checkpoint is written
leaves the previous checkpoint whole.

Runs main(argv) in-process with a few epochs; one subprocess per SIGKILL round.
"""

import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")
sys.path.insert(0, SAMPLES)
common = importlib.import_module("common")
linear = importlib.import_module("linear_regression")
mlp = importlib.import_module("mlp_regression")
seeds_demo = importlib.import_module("seeds_demo")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _snapshot(folder):
    """{name: bytes} of every file in `folder`: what must survive a refused run."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A working folder holding a linear_regression checkpoint, random bytes, a lone .npy,
    an unrelated .npz, a truncated checkpoint and a plain file where a directory should be."""
    tmp_path = tmp_path_factory.mktemp("badsamples")
    linear.main(["--epochs", "2", "--checkpoint", str(tmp_path / "linear.npz")])
    (tmp_path / "random.npz").write_bytes(bytes(np.random.default_rng(0).integers(1, 127, 300, dtype=np.uint8)))
    np.save(tmp_path / "lone.npy", np.ones(3))
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "linear.npz").read_bytes()[:200])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "afile").write_text("not a directory")
    return tmp_path


# argv (with {d} for the folder) -> a regex the one-line error must match
CASES = [
    (["--epochs", "-1"], r"argument --epochs: expected a whole number >= 1, got '-1'"),
    (["--epochs", "0"], r"argument --epochs: expected a whole number >= 1, got '0'"),
    (["--epochs", "2.5"], r"argument --epochs: expected a whole number >= 1, got '2.5'"),
    (["--checkpoint-every", "-3"], r"argument --checkpoint-every: expected a whole number >= 0 \(0: off\), got '-3'"),
    (["--checkpoint", "/nonexistent/ck.npz"], r"--checkpoint /nonexistent/ck.npz: cannot write there: its directory "
                                              r"/nonexistent does not exist"),
    (["--plot", "/nonexistent/p.png"], r"--plot /nonexistent/p.png: cannot write there: its directory /nonexistent"),
    (["--export", "/nonexistent/m.vmfb"], r"--export /nonexistent/m.vmfb: cannot write there"),
    (["--plot", "{d}/afile/p.png"], r"--plot .*afile/p.png: cannot write there: .*afile is not a directory"),
    (["--checkpoint", "{d}"], r"--checkpoint .*: cannot write there: it is a directory"),
    (["--plot", "{d}/loss.xyz"], r"--plot .*loss.xyz: expected an image file name ending in one of .*\.png"),
    (["--plot", "{d}/loss"], r"--plot .*loss: expected an image file name ending in one of"),
    (["--checkpoint", "{d}/same.npz", "--plot", "{d}/same.npz"], r"--checkpoint and --plot are the same file"),
    (["--checkpoint", "{d}/linear.npz"], r"checkpoint .*linear.npz: written by linear_regression \(epoch 2\), "
                                         r"not by mlp_regression; give each sample its own --checkpoint file"),
    (["--checkpoint", "{d}/random.npz"], r"checkpoint .*random.npz: not an .npz archive \(it starts with b'.*'\); "
                                         r"expected an .npz archive written by --checkpoint"),
    (["--checkpoint", "{d}/lone.npy"], r"checkpoint .*lone.npy: a single NumPy array \(.npy\), not an .npz archive"),
    (["--checkpoint", "{d}/empty.npz"], r"checkpoint .*empty.npz: an empty file; expected an .npz archive"),
    (["--checkpoint", "{d}/other.npz"], r"checkpoint .*other.npz: an .npz archive, but not a sample checkpoint: it "
                                        r"holds weights; expected epoch, losses, params_0"),
    (["--checkpoint", "{d}/truncated.npz"], r"checkpoint .*truncated.npz: a damaged .npz archive"),
    (["--device", "nonsense"], r"--device 'nonsense' is not available: Unknown backend nonsense"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a).replace("{d}/", "") for a, _ in CASES])
def test_bad_option_is_one_line_before_any_work(argv, message, folder, capsys, monkeypatch):
    before = _snapshot(folder)
    monkeypatch.setattr(mlp, "load_data", lambda: pytest.fail("loaded data before checking the options"))
    with pytest.raises(SystemExit) as exc:
        mlp.main([a.replace("{d}", str(folder)) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]   # (argparse prints the usage line first)
    assert ": error: " in err and re.search(message, err), err
    assert _snapshot(folder) == before   # nothing written, nothing replaced
    assert not any(p.name.endswith((".tmp.npz",)) or ".partial-" in p.name for p in folder.iterdir())


def test_unusable_irgrad_device_names_the_variable(capsys, monkeypatch):
    from irgrad.frontend import devices
    monkeypatch.setenv("IRGRAD_DEVICE", "nonsense")
    devices._env_device.cache_clear()
    try:
        with pytest.raises(SystemExit):
            mlp.main([])
    finally:
        monkeypatch.delenv("IRGRAD_DEVICE")
        devices._env_device.cache_clear()
    err = capsys.readouterr().err
    assert "IRGRAD_DEVICE='nonsense' names no usable device: Unknown backend nonsense" in err
    assert "device None" not in err


def test_checkpoint_of_another_model_is_refused_after_reading_the_shapes(tmp_path):
    """An old-style checkpoint (no sample name) whose arrays do not fit the MLP: the shapes are named."""
    path = tmp_path / "old.npz"
    np.savez(path, epoch=np.int64(3), losses=np.ones(3), params_0=np.ones(10, np.float32),
             params_1=np.ones((), np.float32))
    before = path.read_bytes()
    with pytest.raises(common.SampleError, match=r"its parameters are \[float32\[10\], float32\[\]\], but "
                                                 r"mlp_regression's model has \[float32\[8\], float32\[10,8\], "):
        mlp.main(["--epochs", "4", "--checkpoint", str(path)])
    assert path.read_bytes() == before


def test_script_prints_one_line_and_exit_status_1(tmp_path):
    """Run as a script, a checkpoint refused after parsing is one line (no traceback)."""
    path = tmp_path / "old.npz"
    np.savez(path, epoch=np.int64(3), losses=np.ones(3), params_0=np.ones(10, np.float32))
    proc = subprocess.run([sys.executable, os.path.join(SAMPLES, "mlp_regression.py"), "--checkpoint", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("mlp_regression.py: error: checkpoint ")
    assert "Traceback" not in proc.stderr


def test_finished_result_survives_its_folder_vanishing(tmp_path, capsys, monkeypatch):
    """The output folder is deleted during training: the final checkpoint, the artifact and the
    plot are written to new temporary files, each named on stderr, and all three are whole."""
    out = tmp_path / "out"
    out.mkdir()

    class TqdmThenVanish(mlp.tqdm):
        def __iter__(self):
            yield from super().__iter__()
            shutil.rmtree(out)
    monkeypatch.setattr(mlp, "tqdm", TqdmThenVanish)
    r = mlp.main(["--epochs", "3", "--checkpoint", str(out / "ck.npz"), "--plot", str(out / "p.png"),
                  "--export", str(out / "m.vmfb")])
    err = capsys.readouterr().err
    moved = {}
    for flag, name in (("--checkpoint", "ck.npz"), ("--plot", "p.png"), ("--export", "m.vmfb")):
        line = next(x for x in err.splitlines() if x.startswith(f"warning: could not write {flag} "))
        assert f"{out / name} (No such file or directory); wrote it to " in line
        moved[flag] = line.rsplit(" wrote it to ", 1)[1].removesuffix(" instead")
        assert os.path.isfile(moved[flag])
    try:
        params = mlp.init_params(mlp.jax.random.PRNGKey(0))
        ck = common.load_checkpoint(moved["--checkpoint"], params, mlp.optimizers.adam(1.0).init(params),
                                    sample="mlp_regression")
        assert ck.epoch == 3 and ck.losses == r["losses"]
        with open(moved["--plot"], "rb") as f:
            assert f.read(8) == PNG_MAGIC
        import irgrad
        x = np.asarray(mlp.load_data()[1])
        np.testing.assert_allclose(np.asarray(irgrad.load(moved["--export"])(x)),
                                   np.asarray(mlp.forward(ck.params, x)), rtol=1e-5, atol=1e-6)
        assert r["artifact"]["artifact"].startswith(moved["--export"])
    finally:
        for path in moved.values():
            os.remove(path)


def test_resumed_mlp_keeps_the_whole_validation_curve(tmp_path):
    """Validation losses are checkpointed: after a resume the history (and so the plot) starts at epoch 1."""
    ck = str(tmp_path / "mlp.npz")
    full = mlp.main(["--epochs", "4"])
    mlp.main(["--epochs", "2", "--checkpoint", ck])
    with np.load(ck) as f:
        assert len(f["curve_val_losses"]) == 2 and str(f["sample"]) == "mlp_regression"
    resumed = mlp.main(["--epochs", "4", "--checkpoint", ck, "--plot", str(tmp_path / "p.png")])
    assert len(resumed["val_losses"]) == 4
    np.testing.assert_allclose(resumed["val_losses"], full["val_losses"], rtol=1e-5)


def test_seeds_demo_help_prints_usage_and_runs_nothing(capsys, monkeypatch):
    monkeypatch.setattr(seeds_demo, "derivatives", lambda: pytest.fail("--help ran the demo"))
    with pytest.raises(SystemExit) as exc:
        seeds_demo.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ") and "The tutorial programs irgrad was created from" in out
    with pytest.raises(SystemExit) as exc:
        seeds_demo.main(["--epochs", "3"])
    assert exc.value.code == 2 and "unrecognized arguments: --epochs 3" in capsys.readouterr().err


# The writer killed mid-save: it saves checkpoints of ~8 MB in a loop, params_0 filled with the epoch.
WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from common import save_checkpoint
    epoch = 0
    while True:
        epoch += 1
        save_checkpoint(sys.argv[2], epoch, {"w": np.full(2_000_000, epoch, np.float32)}, losses=[0.5] * epoch)
        print(epoch, flush=True)
""")


def test_sigkill_while_saving_leaves_the_previous_checkpoint_whole(tmp_path):
    path = str(tmp_path / "ck.npz")
    rng = np.random.default_rng(0)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, SAMPLES, path], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()                                  # one checkpoint is complete
        time.sleep(rng.uniform(0.0, 0.3))                       # then kill at a random point of a save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        ck = common.load_checkpoint(path, {"w": np.zeros(2_000_000, np.float32)})
        w = np.asarray(ck.params["w"])
        assert ck.epoch >= 1 and np.all(w == ck.epoch) and len(ck.losses) == ck.epoch
