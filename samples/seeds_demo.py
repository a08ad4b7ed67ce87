"""The tutorial programs irgrad was created from, run with irgrad.

    python samples/seeds_demo.py

Prints derivatives of tanh and of a cubic, five gradient-descent steps on y = 2x, and the
MLIR that computes value_and_grad of the loss. Takes no options (--help says so).
"""

import argparse

import irgrad as jax
import irgrad.numpy as jnp
from irgrad import grad, value_and_grad


def mse_loss(params, x_data, y_data):
    w, b = params
    return jnp.mean((w * x_data + b - y_data) ** 2)


def derivatives():
    print("grad(tanh)(2.0)            =", jax.grad(jnp.tanh)(2.0))
    print("grad(grad(tanh))(2.0)      =", jax.grad(jax.grad(jnp.tanh))(2.0))
    print("grad^3(tanh)(2.0)          =", jax.grad(jax.grad(jax.grad(jnp.tanh)))(2.0))
    f = lambda x: x**3 + 2 * x**2 - 3 * x + 1
    d = f
    for k in range(1, 5):
        d = grad(d)
        print(f"d^{k}f/dx^{k} at 1.0          =", d(1.0))


def gradient_descent():
    loss_and_grad = value_and_grad(mse_loss)
    x_data = jnp.array([1.0, 2.0, 3.0, 4.0])
    y_data = jnp.array([2.0, 4.0, 6.0, 8.0])
    params = (1.5, 0.5)
    print("Gradient descent with value_and_grad:")
    for i in range(5):
        loss, grads = loss_and_grad(params, x_data, y_data)
        params = (params[0] - 0.1 * grads[0], params[1] - 0.1 * grads[1])
        print(f"Step {i + 1}: w={params[0]:.3f}, b={params[1]:.3f}, loss={loss:.4f}")
    print("\nThe MLIR that computes value_and_grad of the loss:")
    print(jax.jit(loss_and_grad).lower(params, x_data, y_data).as_text())


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="It takes no options; see linear_regression.py and the others for trainers.",
                            ).parse_args(argv)
    derivatives()
    gradient_descent()


if __name__ == "__main__":
    main()
