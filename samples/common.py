"""Shared helpers for the sample trainers: command line, checkpoints, metrics table, loss plot.

    from common import parse_args, save_checkpoint, load_checkpoint, print_table, plot_losses
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import irgrad.numpy as jnp
from irgrad.tree_util import tree_flatten, tree_unflatten

DEVICES = ("cpu",)


def parse_args(description: str, argv=None, epochs: int = 100):
    """The options every sample takes: --epochs, --device, --checkpoint, --checkpoint-every, --plot.

    >>> parse_args("demo", ["--epochs", "3"]).epochs
    3
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs (default %(default)s)")
    p.add_argument("--device", default="cpu", help="where to run; only 'cpu' is available now")
    p.add_argument("--checkpoint", metavar="PATH", help="np.savez file: resume from it if it exists, save to it")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N", help="also save every N epochs")
    p.add_argument("--plot", metavar="PATH", help="write the loss curve to this PNG")
    args = p.parse_args(argv)
    if args.device not in DEVICES:
        p.error(f"device {args.device!r} is not available yet (available: {', '.join(DEVICES)})")
    return args


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
    the pytree structure, and the loaded leaves become device arrays."""
    with np.load(path) as f:
        def restore(name, template):
            leaves, treedef = tree_flatten(template)
            return tree_unflatten(treedef, [jnp.asarray(f[f"{name}_{i}"]) for i in range(len(leaves))])
        return int(f["epoch"]), restore("params", params), restore("opt", opt_state), list(f["losses"])


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
