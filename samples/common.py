"""Shared helpers for the sample trainers: command line, checkpoints, metrics table, loss plot.

    from common import parse_args, save_checkpoint, load_checkpoint, print_table, plot_losses
"""

from __future__ import annotations

import argparse
import os

import irgrad.frontend.devices
import numpy as np

import irgrad
import irgrad.numpy as jnp
from irgrad.tree_util import tree_flatten, tree_unflatten


def parse_args(description: str, argv=None, epochs: int = 100):
    """The options every sample takes: --epochs, --device, --checkpoint, --checkpoint-every,
    --plot, --export. `args.device` comes back as an irgrad Device.

    >>> parse_args("demo", ["--epochs", "3"]).epochs
    3
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs (default %(default)s)")
    p.add_argument("--device", default=None,
                   help="cpu, vulkan, cuda, gpu or platform:index (default: $IRGRAD_DEVICE, else cpu)")
    p.add_argument("--checkpoint", metavar="PATH", help="np.savez file: resume from it if it exists, save to it")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N", help="also save every N epochs")
    p.add_argument("--plot", metavar="PATH", help="write the loss curve to this PNG")
    p.add_argument("--export", metavar="PATH",
                   help="save the trained predictor as an IREE artifact (.vmfb), reload it and check it")
    args = p.parse_args(argv)
    try:
        args.device = irgrad.devices()[0] if args.device is None else irgrad.frontend.devices.resolve(args.device)
    except RuntimeError as e:
        p.error(f"device {args.device!r} is not available: {e}")
    return args


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
    exported.save(args.export)
    loaded = irgrad.load(args.export, device=args.device)
    got = np.asarray(loaded(x))
    diff = float(np.max(np.abs(got - np.asarray(expected))))
    if not np.allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-5):
        raise AssertionError(f"the reloaded artifact's predictions differ from the trained model's by {diff}")
    return {"artifact": f"{args.export} ({os.path.getsize(args.export) // 1024} KiB, {exported.target})",
            "artifact max |prediction diff|": diff}


def save_checkpoint(path: str, epoch: int, params, opt_state=(), losses=()) -> None:
    """Save the leaves of params and opt_state, the epoch and the loss history with np.savez.

    >>> save_checkpoint("/tmp/ck.npz", 3, {"w": np.ones(2)}); load_checkpoint("/tmp/ck.npz", {"w": np.ones(2)})[0]
    3
    """
    arrays = {"epoch": np.int64(epoch), "losses": np.asarray(losses, np.float64)}
    for name, tree in (("params", params), ("opt", opt_state)):
        for i, leaf in enumerate(tree_flatten(tree)[0]):
            arrays[f"{name}_{i}"] = np.asarray(leaf)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: str, params, opt_state=()):
    """(epoch, params, opt_state, losses) from a file written by save_checkpoint; the templates give
    the pytree structure, and the loaded leaves become device arrays. Only plain arrays are read:
    a file or array that needs pickle (which can run code) is refused with ValueError."""
    arrays = _plain_arrays(path)

    def restore(name, template):
        leaves, treedef = tree_flatten(template)
        return tree_unflatten(treedef, [jnp.asarray(arrays[f"{name}_{i}"]) for i in range(len(leaves))])
    return int(arrays["epoch"]), restore("params", params), restore("opt", opt_state), list(arrays["losses"])


def _plain_arrays(path: str) -> dict:
    """Every array in an .npz, read without pickle."""
    key, arrays = None, {}
    try:
        with np.load(path, allow_pickle=False) as f:
            for key in f.files:
                arrays[key] = f[key]
        return arrays
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise
        what = f"its array {key!r} is" if key else "it is"
        raise ValueError(f"checkpoint {path}: {what} pickled Python objects; checkpoints hold plain NumPy arrays "
                         "and are never unpickled (unpickling can run code)") from None


def resume(args, params, opt_state=()):
    """(start_epoch, params, opt_state, losses): from args.checkpoint if that file exists, else fresh."""
    if args.checkpoint and os.path.exists(args.checkpoint):
        epoch, params, opt_state, losses = load_checkpoint(args.checkpoint, params, opt_state)
        print(f"resumed from {args.checkpoint} at epoch {epoch}")
        return epoch, params, opt_state, losses
    return 0, params, opt_state, []


def maybe_save(args, epoch: int, params, opt_state, losses, final: bool = False) -> None:
    """Save to args.checkpoint at the end of training and every args.checkpoint_every epochs."""
    every = args.checkpoint_every
    if args.checkpoint and (final or (every and epoch % every == 0)):
        save_checkpoint(args.checkpoint, epoch, params, opt_state, losses)


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
