"""Logistic regression by gradient descent, compared with scikit-learn's LogisticRegression.

    python samples/logistic_regression.py [--epochs N] [--checkpoint ck.npz] [--plot loss.png]

Part 1 is the tutorial's loss on four points; part 2 fits scikit-learn's bundled breast-cancer
data (standardized features, 75/25 train/test split) with adam.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import irgrad as jax
import irgrad.numpy as jnp
from irgrad import optimizers

sys.path.insert(0, os.path.dirname(__file__))
from common import export_predictor, main_guard, maybe_save, on_device, parse_args, print_table, resume, save_plot  # noqa: E402,I001


def sigmoid(x):
    """The tutorial's sigmoid, written with tanh."""
    return 0.5 * (jnp.tanh(x / 2) + 1)


def predict(params, inputs):
    """Probability of label 1 for each row of inputs."""
    return sigmoid(jnp.dot(inputs, params["w"]) + params["b"])


def loss(params, inputs, targets):
    """Negative log-likelihood of the labels (a sum, as the tutorial; divide by n for a mean)."""
    preds = predict(params, inputs)
    label_probs = preds * targets + (1 - preds) * (1 - targets)
    return -jnp.sum(jnp.log(label_probs))


def tutorial():
    """The seed program: the loss and its gradient on four points, then 100 GD steps."""
    inputs = jnp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
    targets = jnp.array([1.0, 1.0, 0.0, 1.0])
    params = {"w": jnp.array([0.0, 0.0, 0.0]), "b": jnp.array(0.0)}
    grad_loss = jax.jit(jax.grad(loss))
    print("tutorial: loss at zero weights", loss(params, inputs, targets))
    print("tutorial: gradient w.r.t. w   ", grad_loss(params, inputs, targets)["w"])
    for _ in range(100):
        g = grad_loss(params, inputs, targets)
        params = {k: params[k] - 0.1 * g[k] for k in params}
    print("tutorial: loss after 100 steps", loss(params, inputs, targets))


def load_data():
    """Breast-cancer data, standardized with the training split's statistics (float32)."""
    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = x_tr.mean(0), x_tr.std(0)
    f32 = lambda a: np.asarray(a, np.float32)
    return f32((x_tr - mean) / std), f32((x_te - mean) / std), f32(y_tr), f32(y_te)


def accuracy(params, x, y):
    return float(np.mean((np.asarray(predict(params, jnp.asarray(x))) > 0.5) == (y > 0.5)))


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, epochs=300, sample="logistic_regression")
    tutorial()

    x_tr, x_te, y_tr, y_te = load_data()
    n = len(y_tr)
    opt = optimizers.adam(0.01)
    params = {"w": jnp.zeros(x_tr.shape[1], jnp.float32), "b": jnp.zeros((), jnp.float32)}
    state = opt.init(params)
    start, params, state, losses, curves = resume(args, params, state)
    params, state, xd, yd = on_device(args, params, state, jnp.asarray(x_tr), jnp.asarray(y_tr))
    mean_loss = lambda p: loss(p, xd, yd) / n

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(mean_loss)(params)
        updates, state = opt.update(grads, state, params)
        return optimizers.apply_updates(params, updates), state, value

    bar = tqdm(range(start, args.epochs), desc="breast cancer", initial=start, total=args.epochs)
    for epoch in bar:
        params, state, value = step(params, state)
        losses.append(float(value))
        bar.set_postfix(loss=f"{losses[-1]:.5f}", refresh=False)
        maybe_save(args, epoch + 1, params, state, losses)
    maybe_save(args, max(start, args.epochs), params, state, losses, final=True)

    sk = LogisticRegression(max_iter=5000).fit(x_tr, y_tr)
    result = {
        "losses": losses, "train_acc": accuracy(params, x_tr, y_tr), "test_acc": accuracy(params, x_te, y_te),
        "sk_train_acc": sk.score(x_tr, y_tr), "sk_test_acc": sk.score(x_te, y_te),
        "train_loss": float(mean_loss(params)), "params": params,
    }
    xt = on_device(args, jnp.asarray(x_te))
    result["artifact"] = export_predictor(args, lambda inputs: predict(params, inputs), xt, predict(params, xt))
    print_table("breast-cancer logistic regression", [
        ("device", args.device), ("epochs", max(start, args.epochs)), ("train mean NLL", result["train_loss"]),
        ("train accuracy", result["train_acc"]), ("test accuracy", result["test_acc"]),
        ("sklearn train accuracy", result["sk_train_acc"]), ("sklearn test accuracy", result["sk_test_acc"]),
        *(result["artifact"] or {}).items()])
    save_plot(args, {"train mean NLL": losses}, "logistic regression (breast cancer)")
    return result


if __name__ == "__main__":
    main_guard(main)
