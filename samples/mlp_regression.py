"""A tanh MLP regressor trained with adam, with the whole training step in one irgrad.jit.

    python samples/mlp_regression.py [--epochs N] [--checkpoint ck.npz] [--plot loss.png]

Data: scikit-learn's bundled diabetes set (standardized features and target, 80/20
train/validation split). Params and optimizer state stay device arrays between steps.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import irgrad as jax
import irgrad.numpy as jnp
from irgrad import optimizers

sys.path.insert(0, os.path.dirname(__file__))
from common import export_predictor, main_guard, maybe_save, on_device, parse_args, print_table, resume, save_plot  # noqa: E402,I001

LAYERS = (10, 8, 1)


def init_params(key, sizes=LAYERS):
    """A list of {"w", "b"} per layer, w ~ N(0, 1/fan_in)."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        params.append({"w": jax.random.normal(sub, (n_in, n_out)) / np.sqrt(n_in), "b": jnp.zeros(n_out)})
    return params


def forward(params, x):
    """tanh hidden layers, linear output; one prediction per row of x."""
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    out = x @ params[-1]["w"] + params[-1]["b"]
    return out[:, 0]


def mse(params, x, y):
    return jnp.mean((forward(params, x) - y) ** 2)


def load_data():
    """Diabetes data standardized with the training split's statistics (float32)."""
    x, y = load_diabetes(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, random_state=0)
    xm, xs, ym, ys = x_tr.mean(0), x_tr.std(0), y_tr.mean(), y_tr.std()
    f32 = lambda a: np.asarray(a, np.float32)
    return f32((x_tr - xm) / xs), f32((x_va - xm) / xs), f32((y_tr - ym) / ys), f32((y_va - ym) / ys)


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, epochs=200, sample="mlp_regression")
    x_tr, x_va, y_tr, y_va = [jnp.asarray(a) for a in load_data()]
    opt = optimizers.adam(3e-3)
    params = init_params(jax.random.PRNGKey(0))
    state = opt.init(params)
    start, params, state, losses, curves = resume(args, params, state)
    params, state, x_tr, x_va, y_tr, y_va = on_device(args, params, state, x_tr, x_va, y_tr, y_va)

    @jax.jit
    def train_step(params, state, x, y):
        loss, grads = jax.value_and_grad(mse)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optimizers.apply_updates(params, updates), state, loss

    val_loss = jax.jit(mse)
    val_losses = curves.get("val_losses", [])   # (checkpointed too: a resumed plot has the whole curve)
    bar = tqdm(range(start, args.epochs), desc="MLP diabetes", initial=start, total=args.epochs)
    for epoch in bar:
        params, state, loss = train_step(params, state, x_tr, y_tr)
        losses.append(float(loss))
        val_losses.append(float(val_loss(params, x_va, y_va)))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", val=f"{val_losses[-1]:.4f}", refresh=False)
        maybe_save(args, epoch + 1, params, state, losses, curves={"val_losses": val_losses})
    maybe_save(args, max(start, args.epochs), params, state, losses, final=True, curves={"val_losses": val_losses})

    baseline = float(np.mean((np.asarray(y_va) - float(np.mean(np.asarray(y_tr)))) ** 2))
    result = {"losses": losses, "train_loss": float(mse(params, x_tr, y_tr)),
              "val_loss": float(val_loss(params, x_va, y_va)), "baseline": baseline}
    result["artifact"] = export_predictor(args, lambda x: forward(params, x), x_va, forward(params, x_va))
    print_table("diabetes MLP regression (standardized target)", [
        ("device", args.device), ("epochs", max(start, args.epochs)), ("train mse", result["train_loss"]),
        ("validation mse", result["val_loss"]), ("validation mse of predicting the mean", baseline),
        ("validation R^2", 1 - result["val_loss"] / baseline), *(result["artifact"] or {}).items()])
    plotted = {"train mse": losses}
    if val_losses:   # (a checkpoint from before validation losses were saved has fewer)
        plotted["validation mse"] = [np.nan] * (len(losses) - len(val_losses)) + val_losses
    save_plot(args, plotted, "MLP regression (diabetes)")
    result["val_losses"] = val_losses
    return result


if __name__ == "__main__":
    main_guard(main)
