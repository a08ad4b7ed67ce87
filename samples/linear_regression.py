"""Linear regression by gradient descent, checked against the closed-form least-squares solution.

    python samples/linear_regression.py [--epochs N] [--checkpoint ck.npz] [--plot loss.png]

Part 1 is the tutorial's loop on y = 2x; part 2 fits scikit-learn's bundled diabetes data
(standardized features) and compares with np.linalg.lstsq.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.datasets import load_diabetes
from tqdm import tqdm

import irgrad as jax
import irgrad.numpy as jnp
from irgrad import optimizers

sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import export_predictor, main_guard, maybe_save, on_device, parse_args, print_table, resume, save_plot  # noqa: E402,I001


def mse_loss(params, x, y):
    """Mean squared error of the linear model x @ w + b."""
    pred = x @ params["w"] + params["b"] if x.ndim == 2 else params["w"] * x + params["b"]
    return jnp.mean((pred - y) ** 2)


def tutorial():
    """The seed program: five gradient-descent steps on y = 2x from (w, b) = (1.5, 0.5)."""
    def loss(params, x_data, y_data):
        w, b = params
        return jnp.mean((w * x_data + b - y_data) ** 2)
    loss_and_grad = jax.value_and_grad(loss)
    x_data = jnp.array([1.0, 2.0, 3.0, 4.0])
    y_data = jnp.array([2.0, 4.0, 6.0, 8.0])
    params = (1.5, 0.5)
    print("Gradient descent with value_and_grad:")
    for i in range(5):
        loss_value, grads = loss_and_grad(params, x_data, y_data)
        params = (params[0] - 0.1 * grads[0], params[1] - 0.1 * grads[1])
        print(f"Step {i + 1}: w={params[0]:.3f}, b={params[1]:.3f}, loss={loss_value:.4f}")
    return params


def load_data():
    """Diabetes features standardized to mean 0 / std 1, target scaled by its std (float32)."""
    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x.astype(np.float32), (y / y.std()).astype(np.float32)


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, epochs=1500, sample="linear_regression")
    tutorial()

    x, y = load_data()
    opt = optimizers.momentum(0.1, beta=0.9)
    params = {"w": jnp.zeros(x.shape[1], jnp.float32), "b": jnp.zeros((), jnp.float32)}
    state = opt.init(params)
    start, params, state, losses, curves = resume(args, params, state)
    params, state, xd, yd = on_device(args, params, state, jnp.asarray(x), jnp.asarray(y))

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(mse_loss)(params, xd, yd)
        updates, state = opt.update(grads, state, params)
        return optimizers.apply_updates(params, updates), state, loss

    bar = tqdm(range(start, args.epochs), desc="diabetes GD", initial=start, total=args.epochs)
    for epoch in bar:
        params, state, loss = step(params, state)
        losses.append(float(loss))
        bar.set_postfix(loss=f"{losses[-1]:.5f}", refresh=False)
        maybe_save(args, epoch + 1, params, state, losses)
    maybe_save(args, max(start, args.epochs), params, state, losses, final=True)

    design = np.concatenate([x, np.ones((len(x), 1), np.float32)], 1).astype(np.float64)
    exact = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)[0]
    gd = np.concatenate([np.asarray(params["w"]), [float(params["b"])]])
    with np.printoptions(precision=4, suppress=True):
        print("gradient descent coef:", gd)
        print("lstsq coef:           ", exact)
    exact_loss = float(np.mean((design @ exact - y) ** 2))
    final_loss = float(mse_loss(params, xd, yd))
    max_diff = float(np.max(np.abs(gd - exact)))
    predict = lambda inputs: inputs @ params["w"] + params["b"]
    artifact = export_predictor(args, predict, xd, predict(xd))
    print_table("diabetes linear regression", [
        ("device", args.device), ("epochs", max(start, args.epochs)), ("GD mse", final_loss),
        ("lstsq mse", exact_loss), ("max |coef diff|", f"{max_diff:.1e}"), *(artifact or {}).items()])
    save_plot(args, {"GD train mse": losses}, "linear regression (diabetes)")
    return {"coef": gd, "exact": exact, "losses": losses, "max_diff": max_diff, "loss": final_loss,
            "exact_loss": exact_loss, "artifact": artifact, "params": params}


if __name__ == "__main__":
    main_guard(main)
