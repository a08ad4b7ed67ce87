"""Shared helpers for the sample trainers: command line, checkpoints, metrics table, loss plot.

    from common import parse_args, save_checkpoint, load_checkpoint, print_table, plot_losses

Every option is checked before any data is loaded (see parse_args), and a finished result
(checkpoint, plot, artifact) is never lost to a late I/O error (see write_safely).
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from typing import NamedTuple

import irgrad.frontend.devices
import numpy as np
from irgrad.frontend.files import unwritable, write_or_fall_back

import irgrad
import irgrad.numpy as jnp
from irgrad.tree_util import tree_flatten, tree_unflatten


class SampleError(ValueError):
    """Bad input to a sample (a checkpoint of another model, an unwritable path): printed as one line."""


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1.

    >>> positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0 (0 turns the option off)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (0: off), got {text!r}")
    return value


def parse_args(description: str, argv=None, epochs: int = 100, sample: str = "sample"):
    """The options every sample takes: --epochs, --device, --checkpoint, --checkpoint-every,
    --plot, --export. Everything is checked here, before any data is loaded or step run:
    numbers, the device, that each output path can be written, and that an existing
    --checkpoint is one of this `sample`'s. `args.device` comes back as an irgrad Device.

    >>> parse_args("demo", ["--epochs", "3"]).epochs
    3
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=positive_int, default=epochs, help="training epochs (default %(default)s)")
    p.add_argument("--device", default=None,
                   help="cpu, vulkan, cuda, gpu or platform:index (default: $IRGRAD_DEVICE, else cpu)")
    p.add_argument("--checkpoint", metavar="PATH", help="np.savez file: resume from it if it exists, save to it")
    p.add_argument("--checkpoint-every", type=non_negative_int, default=0, metavar="N",
                   help="also save every N epochs")
    p.add_argument("--plot", metavar="PATH", help="write the loss curve to this image (.png, .svg, .pdf, ...)")
    p.add_argument("--export", metavar="PATH",
                   help="save the trained predictor as an IREE artifact (.vmfb), reload it and check it")
    args = p.parse_args(argv)
    args.sample = sample
    try:
        args.device = irgrad.devices()[0] if args.device is None else irgrad.frontend.devices.resolve(args.device)
    except RuntimeError as e:   # with no --device the message names $IRGRAD_DEVICE
        p.error(f"--device {args.device!r} is not available: {e}" if args.device else str(e))
    try:
        check_outputs(args)
        args.resume_from = read_checkpoint(args.checkpoint, sample) if args.checkpoint and \
            os.path.exists(args.checkpoint) else None
    except SampleError as e:
        p.error(str(e))
    return args


def main_guard(main) -> None:
    """Run a sample's main() as a script: a SampleError is one line on stderr, exit status 1."""
    try:
        main()
    except SampleError as e:
        sys.exit(f"{os.path.basename(sys.argv[0])}: error: {e}")


# ------------------------------------------------------------------- output paths


def _plot_formats() -> set:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    return set(Figure().canvas.get_supported_filetypes())


def check_outputs(args) -> None:
    """SampleError unless every output path (--checkpoint, --plot, --export) can be written
    and no two are the same file; --plot must name an image format matplotlib writes."""
    paths = {flag: getattr(args, flag) for flag in ("checkpoint", "plot", "export") if getattr(args, flag)}
    for flag, path in paths.items():
        why = unwritable(path)
        if why:
            raise SampleError(f"--{flag} {path}: cannot write there: {why}")
    seen = {}
    for flag, path in paths.items():
        other = seen.setdefault(os.path.realpath(path), flag)
        if other != flag:
            raise SampleError(f"--{other} and --{flag} are the same file {path}; give each its own path")
    if "plot" in paths:
        ext = os.path.splitext(paths["plot"])[1].lstrip(".").lower()
        formats = _plot_formats()
        if ext not in formats:
            raise SampleError(f"--plot {paths['plot']}: expected an image file name ending in one of "
                              f".{', .'.join(sorted(formats))} (e.g. loss.png)")


def write_safely(what: str, path: str, write, sample: str = "sample") -> str:
    """`write(path)`; if that fails (the disk filled up, the folder went away), write to a new
    file in the temp directory instead and say so on stderr, so a finished result is never lost.
    Returns the path written.

    >>> write_safely("--plot", "/gone/p.png", lambda p: open(p, "w").close())   # doctest: +SKIP
    warning: could not write --plot /gone/p.png (...); wrote it to /tmp/irgrad-sample-k2j4-p.png instead
    """
    return write_or_fall_back(what, path, write, prefix=f"irgrad-{sample}-")


def on_device(args, *trees):
    """The trees' arrays committed to args.device: training then runs there, and the
    parameters and optimizer state stay there between steps."""
    out = tuple(irgrad.device_put(t, args.device) for t in trees)
    return out[0] if len(out) == 1 else out


def export_predictor(args, predict, x, expected) -> dict | None:
    """With --export: save `predict` (trained parameters baked in) as an artifact for
    x's shape, reload it as a deployment would (irgrad.load) and check that it gives
    `expected` on x. Returns the table rows to print."""
    if not args.export:
        return None
    exported = irgrad.export(predict, x, device=args.device)
    path = write_safely("--export", args.export, exported.save, args.sample)
    loaded = irgrad.load(path, device=args.device)
    got = np.asarray(loaded(x))
    diff = float(np.max(np.abs(got - np.asarray(expected))))
    if not np.allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-5):
        raise AssertionError(f"the reloaded artifact's predictions differ from the trained model's by {diff}")
    return {"artifact": f"{path} ({os.path.getsize(path) // 1024} KiB, {exported.target})",
            "artifact max |prediction diff|": diff}


# -------------------------------------------------------------------- checkpoints
#
# An .npz archive of plain arrays: "epoch", "losses" (the training loss per epoch),
# "sample" (the sample that wrote it), "params_<i>" and "opt_<i>" (the leaves of the
# parameters and optimizer state, in tree_flatten order) and "curve_<name>" (other
# per-epoch histories, e.g. the MLP's validation loss).

class Checkpoint(NamedTuple):
    epoch: int
    params: object
    opt_state: object
    losses: list
    curves: dict


def save_checkpoint(path: str, epoch: int, params, opt_state=(), losses=(), *, sample: str = "", curves=None) -> None:
    """Save the leaves of params and opt_state, the epoch, the loss history and any other
    per-epoch `curves` with np.savez, atomically: a temporary file renamed over `path`, so a
    process killed while saving leaves the previous checkpoint whole.

    >>> save_checkpoint("/tmp/ck.npz", 3, {"w": np.ones(2)}); load_checkpoint("/tmp/ck.npz", {"w": np.ones(2)})[0]
    3
    """
    arrays = {"epoch": np.int64(epoch), "losses": np.asarray(losses, np.float64), "sample": np.str_(sample)}
    for name, values in (curves or {}).items():
        arrays[f"curve_{name}"] = np.asarray(values, np.float64)
    for name, tree in (("params", params), ("opt", opt_state)):
        for i, leaf in enumerate(tree_flatten(tree)[0]):
            arrays[f"{name}_{i}"] = np.asarray(leaf)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: str, params, opt_state=(), sample: str | None = None) -> Checkpoint:
    """(epoch, params, opt_state, losses, curves) from a file written by save_checkpoint; the
    templates give the pytree structure, shapes and dtypes, and the loaded leaves become
    device arrays. Only plain arrays are read: a file or array that needs pickle (which can
    run code) is refused. A file that is no checkpoint, or one of another sample or model,
    raises SampleError saying what the file is and what was expected."""
    return restore_checkpoint(read_checkpoint(path, sample), path, params, opt_state, sample)


def read_checkpoint(path: str, sample: str | None = None) -> dict:
    """The arrays of checkpoint `path`, checked to be a checkpoint (of `sample`, if given)."""
    arrays = _plain_arrays(path)
    if "epoch" not in arrays or "params_0" not in arrays:
        names = ", ".join(sorted(arrays)[:6]) + (", ..." if len(arrays) > 6 else "")
        raise SampleError(f"checkpoint {path}: an .npz archive, but not a sample checkpoint: it holds "
                          f"{names or 'no arrays'}; expected epoch, losses, params_0, ... (written by --checkpoint)")
    writer = str(arrays["sample"]) if "sample" in arrays else ""
    if sample and writer and writer != sample:
        raise SampleError(f"checkpoint {path}: written by {writer} (epoch {int(arrays['epoch'])}), not by {sample}; "
                          "give each sample its own --checkpoint file")
    return arrays


def restore_checkpoint(arrays: dict, path: str, params, opt_state=(), sample: str | None = None) -> Checkpoint:
    """A Checkpoint from read_checkpoint's arrays, each leaf checked against the templates."""
    def restore(name, template):
        leaves, treedef = tree_flatten(template)
        stored = sorted((k for k in arrays if k.startswith(name + "_")), key=lambda k: int(k.rpartition("_")[2]))
        want = [_aval(np.asarray(x)) for x in leaves]
        got = [_aval(arrays[k]) for k in stored]
        if got != want:
            owner = sample or "this sample"
            raise SampleError(f"checkpoint {path}: its {_WHAT[name]} are {_short_list(got)}, but {owner}'s model has "
                              f"{_short_list(want)}; was it written by another sample or model?")
        return tree_unflatten(treedef, [jnp.asarray(arrays[k]) for k in stored])
    curves = {k[len("curve_"):]: list(v) for k, v in arrays.items() if k.startswith("curve_")}
    return Checkpoint(int(arrays["epoch"]), restore("params", params), restore("opt", opt_state),
                      list(arrays["losses"]), curves)


_WHAT = {"params": "parameters", "opt": "optimizer state arrays"}


def _aval(a: np.ndarray) -> str:
    return f"{a.dtype.name}[{','.join(map(str, a.shape))}]"


def _short_list(items, limit: int = 4) -> str:
    shown = ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")
    return f"[{shown}]"


# The first bytes of the files a checkpoint path might hold, and what to call them.
_MAGIC = ((b"PK\x03\x04", None), (b"\x93NUMPY", "a single NumPy array (.npy), not an .npz archive"),
          (b"\x80", "pickled Python objects"))


def _plain_arrays(path: str) -> dict:
    """Every array in an .npz, read without pickle; SampleError for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise SampleError(f"checkpoint {path}: cannot read it ({e.strerror or e})") from None
    kind = next((what for magic, what in _MAGIC if head.startswith(magic)), "unknown")
    if kind == "pickled Python objects":
        raise SampleError(f"checkpoint {path}: it is pickled Python objects; checkpoints hold plain NumPy arrays "
                          "and are never unpickled (unpickling can run code)")
    if kind is not None:
        what = kind if kind != "unknown" else ("an empty file" if not head else f"not an .npz archive (it starts "
                                                                               f"with {head!r})")
        raise SampleError(f"checkpoint {path}: {what}; expected an .npz archive written by --checkpoint. Delete "
                          "it or pass another --checkpoint path")
    key, arrays = None, {}
    try:
        with np.load(path, allow_pickle=False) as f:
            for key in f.files:
                arrays[key] = f[key]
        return arrays
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise SampleError(f"checkpoint {path}: unreadable array {key!r} ({e})") from None
        raise SampleError(f"checkpoint {path}: its array {key!r} is pickled Python objects; checkpoints hold plain "
                          "NumPy arrays and are never unpickled (unpickling can run code)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise SampleError(f"checkpoint {path}: a damaged .npz archive ({e}); delete it or pass another "
                          "--checkpoint path") from None


def resume(args, params, opt_state=()) -> Checkpoint:
    """(start_epoch, params, opt_state, losses, curves): from args.checkpoint if that file
    exists (read and checked by parse_args), else fresh."""
    arrays = getattr(args, "resume_from", None)
    if arrays is None and args.checkpoint and os.path.exists(args.checkpoint):
        arrays = read_checkpoint(args.checkpoint, args.sample)
    if arrays is None:
        return Checkpoint(0, params, opt_state, [], {})
    ck = restore_checkpoint(arrays, args.checkpoint, params, opt_state, args.sample)
    print(f"resumed from {args.checkpoint} at epoch {ck.epoch}")
    return ck


def maybe_save(args, epoch: int, params, opt_state, losses, final: bool = False, curves=None) -> None:
    """Save to args.checkpoint at the end of training and every args.checkpoint_every epochs.
    If the file cannot be written, the checkpoint goes to a new temporary file (named on
    stderr), and so do the later ones."""
    every = args.checkpoint_every
    if args.checkpoint and (final or (every and epoch % every == 0)):
        write = lambda p: save_checkpoint(p, epoch, params, opt_state, losses, sample=args.sample, curves=curves)
        args.checkpoint = write_safely("--checkpoint", args.checkpoint, write, args.sample)


def save_plot(args, curves: dict, title: str) -> None:
    """With --plot: the loss curves, written even if the --plot path has become unwritable."""
    if args.plot:
        write_safely("--plot", args.plot, lambda p: plot_losses(p, curves, title), args.sample)


def print_table(title: str, rows) -> None:
    """Print (name, value) rows as an aligned two-column table.

    >>> print_table("t", [("loss", 0.5)])
    t
    ------------
    loss  0.5000
    """
    rows = [(str(k), f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in rows]
    wk = max(len(k) for k, _ in rows)
    wv = max(len(v) for _, v in rows)
    print(title)
    print("-" * (wk + wv + 2))
    for k, v in rows:
        print(f"{k:<{wk}}  {v:>{wv}}")


def plot_losses(path: str, curves: dict, title: str = "loss") -> None:
    """Write a PNG with one line per {label: losses} entry (log-scale y, epochs on x)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in curves.items():
        ax.plot(np.arange(1, len(ys) + 1), ys, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
