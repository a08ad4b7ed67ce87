"""The sample trainers in samples/: short runs reach scikit-learn's solutions; checkpoints resume; plots are PNGs."""

import importlib
import os
import re
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "samples"))
linear = importlib.import_module("linear_regression")
logistic = importlib.import_module("logistic_regression")
mlp = importlib.import_module("mlp_regression")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def test_linear_matches_lstsq(tmp_path, capsys):
    png = tmp_path / "lin.png"
    r = linear.main(["--epochs", "400", "--plot", str(png)])
    out = capsys.readouterr().out
    # The tutorial's five steps, computed here in float64: w, b after each step of lr 0.1.
    x, y, w, b = np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8]), 1.5, 0.5
    for i in range(5):
        e = w * x + b - y
        loss, gw, gb = np.mean(e ** 2), np.mean(2 * e * x), np.mean(2 * e)
        w, b = w - 0.1 * gw, b - 0.1 * gb
        shown = re.search(rf"Step {i + 1}: w=(\S+), b=(\S+), loss=(\S+)", out).groups()
        np.testing.assert_allclose([float(v) for v in shown], [w, b, loss], atol=1e-3)   # printed to 3-4 places
    assert r["losses"][-1] < r["losses"][0] / 5
    assert r["max_diff"] < 1e-3                       # coefficients within 1e-3 of np.linalg.lstsq
    assert abs(r["loss"] - r["exact_loss"]) < 1e-4
    assert _is_png(png)


def test_logistic_accuracy_near_sklearn(tmp_path):
    png = tmp_path / "log.png"
    r = logistic.main(["--epochs", "150", "--plot", str(png)])
    assert r["losses"][-1] < r["losses"][0] / 4
    assert abs(r["test_acc"] - r["sk_test_acc"]) <= 0.03   # within 3 points of sklearn's test accuracy
    assert r["test_acc"] > 0.9
    assert _is_png(png)


def test_mlp_beats_mean_baseline_and_resumes(tmp_path, capsys):
    ck = str(tmp_path / "mlp.npz")
    full = mlp.main(["--epochs", "60"])
    first = mlp.main(["--epochs", "30", "--checkpoint", ck])
    with np.load(ck) as f:
        assert int(f["epoch"]) == 30 and len(f["losses"]) == 30
    png = tmp_path / "mlp.png"
    capsys.readouterr()
    resumed = mlp.main(["--epochs", "60", "--checkpoint", ck, "--plot", str(png)])
    assert "resumed from" in capsys.readouterr().out
    with np.load(ck) as f:
        assert int(f["epoch"]) == 60
    # Resuming from epoch 30 (params + adam state) continues the same trajectory as one 60-epoch run.
    np.testing.assert_allclose(resumed["losses"], full["losses"], rtol=1e-5)
    assert resumed["losses"][:30] == first["losses"]
    assert full["losses"][-1] < full["losses"][0]
    assert full["val_loss"] < 0.9 * full["baseline"]   # better than predicting the training mean
    assert _is_png(png)


def test_checkpoint_every_n_epochs(tmp_path):
    ck = str(tmp_path / "log.npz")
    logistic.main(["--epochs", "10", "--checkpoint", ck, "--checkpoint-every", "4"])
    with np.load(ck) as f:
        assert int(f["epoch"]) == 10
    r = logistic.main(["--epochs", "10", "--checkpoint", ck])   # already done: no more steps
    assert len(r["losses"]) == 10


def test_unavailable_device_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        linear.main(["--device", "tpu"])
    assert "not available" in capsys.readouterr().err


def test_exported_predictor_reloads_in_a_fresh_process(tmp_path):
    """--export saves the trained predictor; a new process with only irgrad.load gives
    the same predictions (the sample itself also checks them in-process)."""
    import subprocess
    path = str(tmp_path / "logistic.vmfb")
    r = logistic.main(["--epochs", "20", "--export", path])
    assert r["artifact"]["artifact max |prediction diff|"] <= 1e-5
    _, x_te, _, _ = logistic.load_data()
    np.save(tmp_path / "x.npy", np.asarray(x_te, np.float32))
    code = ("import sys, numpy as np, irgrad; f = irgrad.load(sys.argv[1]); "
            "np.save(sys.argv[3], np.asarray(f(np.load(sys.argv[2]))))")
    subprocess.run([sys.executable, "-c", code, path, str(tmp_path / "x.npy"), str(tmp_path / "p.npy")], check=True)
    want = 1 / (1 + np.exp(-(x_te.astype(np.float64) @ np.asarray(r["params"]["w"], np.float64)
                             + float(r["params"]["b"]))))
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, rtol=1e-4, atol=1e-6)


def test_training_on_vulkan_matches_cpu():
    """The linear sample's gradient descent on Vulkan (lavapipe in CI) follows the CPU run."""
    import irgrad
    try:
        irgrad.devices("vulkan")
    except RuntimeError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires a Vulkan device: {e}")
        pytest.skip(f"no Vulkan device: {e}")
    cpu = linear.main(["--epochs", "30"])
    vk = linear.main(["--epochs", "30", "--device", "vulkan"])
    assert vk["params"]["w"].device.platform == "vulkan"
    np.testing.assert_allclose(vk["losses"], cpu["losses"], rtol=1e-4)


class _RunsCode:
    """Unpickling this creates a file: the proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_checkpoint_with_pickled_objects_is_refused(tmp_path):
    common = importlib.import_module("common")
    marker = tmp_path / "pickle-ran"
    good = tmp_path / "good.npz"
    common.save_checkpoint(str(good), 3, {"w": np.ones(2, np.float32)})
    with np.load(good) as f:
        arrays = dict(f)
    arrays["params_0"] = np.array([_RunsCode(marker)], dtype=object)
    planted = tmp_path / "planted.npz"
    np.savez(planted, **arrays)
    with pytest.raises(ValueError, match=r"its array 'params_0' is pickled Python objects; .* never unpickled"):
        common.load_checkpoint(str(planted), {"w": np.ones(2, np.float32)})
    raw = tmp_path / "raw.npz"                      # a bare pickle with a checkpoint's name
    with open(raw, "wb") as f:
        import pickle
        pickle.dump({"epoch": _RunsCode(marker)}, f)
    with pytest.raises(ValueError, match=r"checkpoint .*raw.npz: it is pickled Python objects"):
        common.load_checkpoint(str(raw), {"w": np.ones(2, np.float32)})
    assert not marker.exists()
    epoch, params, *_ = common.load_checkpoint(str(good), {"w": np.zeros(2, np.float32)})
    assert epoch == 3 and np.array_equal(np.asarray(params["w"]), np.ones(2))
