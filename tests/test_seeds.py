"""The tutorials irgrad was created from (shared/seeds/), cell by cell: each program
runs with `import irgrad as jax; import irgrad.numpy as jnp` and must print the
tutorial's numbers."""

from __future__ import annotations

import pytest
from seedcheck import assert_same_output, run_cell

IMPORTS = """
import irgrad as jax
import irgrad.numpy as jnp
from irgrad import grad, value_and_grad
import numpy as np
"""


@pytest.fixture(autouse=True)
def _restore_config():
    from irgrad.frontend.config import config
    saved = dict(config._values)
    yield
    config._values.update(saved)


def run(source, setup=""):
    ns: dict = {}
    run_cell(IMPORTS + setup, ns)
    return run_cell(source, ns)


# ----------------------------------------------------------------- seed 000 (video 2)

SEED0 = [
    ("scalar", """
def f(x):
    return x**2
df_dx = grad(f)
x = 3.0
gradient_value = df_dx(x)
print(f"f(x) = x^2")
print(f"f({x}) = {f(x)}")
print(f"f'({x}) = {gradient_value}")
print(f"Expected: 2 * {x} = {2 * x}")
""", """f(x) = x^2
f(3.0) = 9.0
f'(3.0) = 6.0
Expected: 2 * 3.0 = 6.0
"""),
    ("partials", """
def h(x, y):
    return x**2 + 3*x*y + y**2
dh_dx = grad(h, argnums=0)
dh_dy = grad(h, argnums=1)
x, y = 2.0, 1.0
print(f"h(x,y) = x² + 3xy + y²")
print(f"∂h/∂x = 2x + 3y = {dh_dx(x, y)}")
print(f"∂h/∂y = 3x + 2y = {dh_dy(x, y)}")
""", """h(x,y) = x² + 3xy + y²
∂h/∂x = 2x + 3y = 7.0
∂h/∂y = 3x + 2y = 8.0
"""),
    ("value_and_grad", """
def h(x, y):
    return x**2 + 3*x*y + y**2
grad_h = grad(h, argnums=(0, 1))
x, y = 2.0, 1.0
value_separate = h(x, y)
grad_separate = grad_h(x, y)
value_and_grad_h = value_and_grad(h, argnums=(0, 1))
value_together, grad_together = value_and_grad_h(x, y)
print(f"Separate calls:")
print(f"  Value: {value_separate}")
print(f"  Grad: {grad_separate}")
print(f"value_and_grad:")
print(f"  Value: {value_together}")
print(f"  Grad: {grad_together}")
print(f"\\nSame results, but value_and_grad is more efficient!")
""", """Separate calls:
  Value: 11.0
  Grad: (Array(7., dtype=float32, weak_type=True), Array(8., dtype=float32, weak_type=True))
value_and_grad:
  Value: 11.0
  Grad: (Array(7., dtype=float32, weak_type=True), Array(8., dtype=float32, weak_type=True))

Same results, but value_and_grad is more efficient!
"""),
    ("ml_loss", """
def loss_function(params, x_data, y_data):
    w, b = params
    predictions = w * x_data + b
    return jnp.mean((predictions - y_data)**2)
x_data = jnp.array([1.0, 2.0, 3.0, 4.0])
y_data = jnp.array([2.1, 3.9, 6.1, 7.9])
params = (1.0, 0.0)
loss_and_grad = value_and_grad(loss_function)
current_loss, gradients = loss_and_grad(params, x_data, y_data)
print(f"Current parameters: w={params[0]}, b={params[1]}")
print(f"Loss: {current_loss:.4f}")
print(f"Gradients: dL/dw={gradients[0]:.4f}, dL/db={gradients[1]:.4f}")
print(f"\\nThis is exactly what you need for gradient descent!")
""", """Current parameters: w=1.0, b=0.0
Loss: 7.4100
Gradients: dL/dw=-14.9000, dL/db=-5.0000

This is exactly what you need for gradient descent!
"""),
    ("matrix", """
def matrix_function(W):
    return jnp.trace(W @ W.T)
val_grad_matrix = value_and_grad(matrix_function)
W = jnp.array([[1.0, 2.0],
               [3.0, 4.0]])
value, gradient_W = val_grad_matrix(W)
print(f"Input matrix W:\\n{W}")
print(f"Function value: {value}")
print(f"Gradient matrix:\\n{gradient_W}")
print(f"\\nGradient has the same shape as input!")
""", """Input matrix W:
[[1. 2.]
 [3. 4.]]
Function value: 30.0
Gradient matrix:
[[2. 4.]
 [6. 8.]]

Gradient has the same shape as input!
"""),
    ("higher_order", """
def f(x):
    return x**4 - 2*x**3 + x**2
f_val_grad = value_and_grad(f)
f_prime = grad(f)
f_double_prime = grad(f_prime)
x = 2.0
value, first_deriv = f_val_grad(x)
second_deriv = f_double_prime(x)
print(f"f(x) = x⁴ - 2x³ + x²")
print(f"At x={x}:")
print(f"f({x}) = {value}")
print(f"f'({x}) = {first_deriv}")
print(f"f''({x}) = {second_deriv}")
print(f"\\nExpected: f'(x) = 4x³ - 6x² + 2x = {4*x**3 - 6*x**2 + 2*x}")
""", """f(x) = x⁴ - 2x³ + x²
At x=2.0:
f(2.0) = 4.0
f'(2.0) = 12.0
f''(2.0) = 26.0

Expected: f'(x) = 4x³ - 6x² + 2x = 12.0
"""),
    ("gradient_descent", """
def mse_loss(params, x_data, y_data):
    w, b = params
    predictions = w * x_data + b
    return jnp.mean((predictions - y_data)**2)
loss_and_grad = value_and_grad(mse_loss)
def gradient_descent_step(params, x_data, y_data, learning_rate=0.1):
    loss, grads = loss_and_grad(params, x_data, y_data)
    new_w = params[0] - learning_rate * grads[0]
    new_b = params[1] - learning_rate * grads[1]
    return (new_w, new_b), loss
x_data = jnp.array([1.0, 2.0, 3.0, 4.0])
y_data = jnp.array([2.0, 4.0, 6.0, 8.0])
params = (1.5, 0.5)
print("Gradient descent with value_and_grad:")
for i in range(5):
    params, loss = gradient_descent_step(params, x_data, y_data)
    print(f"Step {i+1}: w={params[0]:.3f}, b={params[1]:.3f}, loss={loss:.4f}")
print(f"\\nTarget: w=2.0, b=0.0")
""", """Gradient descent with value_and_grad:
Step 1: w=2.000, b=0.650, loss=0.8750
Step 2: w=1.675, b=0.520, loss=0.4225
Step 3: w=1.903, b=0.578, loss=0.2176
Step 4: w=1.760, b=0.512, loss=0.1239
Step 5: w=1.864, b=0.529, loss=0.0803

Target: w=2.0, b=0.0
"""),
]


@pytest.mark.parametrize("name,source,expected", SEED0, ids=[c[0] for c in SEED0])
def test_seed0_video2(name, source, expected):
    assert_same_output(run(source), expected)


# ------------------------------------------------ seed 001 / 002 (JAX autodiff docs)

def test_seed1_grad_tanh():
    assert_same_output(run("grad_tanh = jax.grad(jnp.tanh)\nprint(grad_tanh(2.0))"), "0.070650816\n")


def test_seed1_higher_order_tanh():
    src = "print(jax.grad(jax.grad(jnp.tanh))(2.0))\nprint(jax.grad(jax.grad(jax.grad(jnp.tanh)))(2.0))"
    assert_same_output(run(src), "-0.13621868\n0.25265405\n")


def test_seed1_polynomial_to_fourth_order():
    src = """
f = lambda x: x**3 + 2 * x**2 - 3 * x + 1
dfdx = jax.grad(f)
d2fdx = jax.grad(dfdx)
d3fdx = jax.grad(d2fdx)
d4fdx = jax.grad(d3fdx)
print(dfdx(1.0))
print(d2fdx(1.0))
print(d3fdx(1.0))
print(d4fdx(1.0))
"""
    assert_same_output(run(src), "4.0\n10.0\n6.0\n0.0\n")


# --------------------------------------------------------------- seed 003 (ApX)

def test_seed3_scalar_and_second_derivative():
    src = """
def f(x):
    return x**2 + 3*x + 5
df_dx = grad(f)
print(df_dx(2.0))
d2f_dx2 = grad(grad(f))
print(d2f_dx2(2.0))
"""
    assert_same_output(run(src), "7.0\n2.0\n")


def test_seed3_vector():
    src = """
def g(x):
    return jnp.sum(x**2)
grad_g = grad(g)
x = jnp.array([1.0, 2.0, 3.0])
print(grad_g(x))
"""
    assert_same_output(run(src), "[2. 4. 6.]\n")


def test_seed3_linear_regression_matches_jax():
    src = """
def predict(weights, inputs):
    return jnp.dot(inputs, weights)
def loss(weights, inputs, targets):
    predictions = predict(weights, inputs)
    return jnp.mean((predictions - targets) ** 2)
inputs = jnp.array([[1.0, 2.0], [3.0, 4.0]])
targets = jnp.array([5.0, 6.0])
weights = jnp.array([0.1, 0.2])
grad_loss = grad(loss)
print(grad_loss(weights, inputs, targets))
"""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    inputs = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    # one jax.jit (one XLA compile) rather than an eager compile per op
    expected = jax.jit(jax.grad(lambda w: jnp.mean((inputs @ w - jnp.array([5.0, 6.0])) ** 2)))(jnp.array([0.1, 0.2]))
    assert_same_output(run(src), str(expected) + "\n")


# ------------------------------------------------------------ seed 004 (notebook)

SEED4_SETUP = """
def perceptron(w, b, x):
    return w.T @ x + b
perceptron_ = grad(perceptron, argnums=(0, 1))
w = jnp.array([1., 2.])
b = 0.5
x = jnp.array([1.5, 2.5])
"""


def test_seed4_perceptron_value():
    assert_same_output(run("print(repr(perceptron(w, b, x)))", SEED4_SETUP), "Array(7., dtype=float32)\n")


def test_seed4_perceptron_grads():
    assert_same_output(run("dw, db = perceptron_(w, b, x)\nprint(dw)\nprint(db)", SEED4_SETUP),
                       "[1.5 2.5]\n1.0\n")


def test_seed4_value_and_grad_repr():
    src = "print(repr(value_and_grad(perceptron, argnums=(0, 1))(w, b, x)))"
    assert_same_output(run(src, SEED4_SETUP), "(Array(7., dtype=float32),\n (Array([1.5, 2.5], dtype=float32), "
                       "Array(1., dtype=float32, weak_type=True)))\n")


def test_seed4_non_scalar_error():
    src = """
try:
    grad(grad(perceptron))(w, b, x)
except Exception as err:
    print(f"{type(err)}\\n{err}")
"""
    assert_same_output(run(src, SEED4_SETUP), "<class 'TypeError'>\nGradient only defined for scalar-output "
                       "functions. Output had shape: (2,).\n")


def test_seed4_has_aux():
    src = """
def f(x):
    val = x**2
    aux = [x**3, x**4]
    return val, aux
dx, aux = grad(f, has_aux=True)(2.)
print(dx, aux)
(val, aux), dx = value_and_grad(f, has_aux=True)(3.)
print(val)
print(aux)
print(dx)
"""
    expected = """4.0 [Array(8., dtype=float32, weak_type=True), Array(16., dtype=float32, weak_type=True)]
9.0
[Array(27., dtype=float32, weak_type=True), Array(81., dtype=float32, weak_type=True)]
6.0
"""
    assert_same_output(run(src), expected)


# ------------------------------------------- seed 001: logistic regression (random keys)

SEED1_SETUP = """
key = jax.random.key(1701)
def sigmoid(x):
    return 0.5 * (jnp.tanh(x / 2) + 1)
@jax.jit
def predict(W, b, inputs):
    return sigmoid(jnp.dot(inputs, W) + b)
inputs = jnp.array(
    [[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]]
)
targets = jnp.array([True, True, False, True])
@jax.jit
def loss(W, b):
    preds = predict(W, b, inputs)
    label_preds = preds * targets + (1 - preds) * (1 - targets)
    return jnp.sum(-jnp.log(label_preds))
key, W_key, b_key = jax.random.split(key, 3)
W = jax.random.normal(key, (3,))
b = jax.random.normal(key, ())
"""


def test_seed1_logistic_argnums():
    src = """
W_grad = jax.grad(loss, argnums=(0,))(W, b)
print(f"{W_grad=}")
b_grad = jax.grad(loss, argnums=(1,))(W, b)
print(f"{b_grad=}")
W_grad, b_grad = jax.grad(loss, argnums=(0, 1))(W, b)
print(f"{W_grad=}")
print(f"{b_grad=}")
"""
    expected = """W_grad=(Array([-1.64406  ,  1.4412102, -1.8369946], dtype=float32),)
b_grad=(Array(-2.307187, dtype=float32),)
W_grad=Array([-1.64406  ,  1.4412102, -1.8369946], dtype=float32)
b_grad=Array(-2.307187, dtype=float32)
"""
    assert_same_output(run(src, SEED1_SETUP), expected)


def test_seed1_dict_params():
    src = """
@jax.jit
def loss2(params):
    preds = predict(params["W"], params["b"], inputs)
    label_preds = preds * targets + (1 - preds) * (1 - targets)
    return jnp.sum(-jnp.log(label_preds))
print(jax.grad(loss2)({"W": W, "b": b}))
"""
    expected = ("{'W': Array([-1.64406  ,  1.4412102, -1.8369946], dtype=float32), "
                "'b': Array(-2.307187, dtype=float32)}\n")
    assert_same_output(run(src, SEED1_SETUP), expected)


def test_seed1_value_and_grad():
    src = """
loss_val, Wb_grad = jax.value_and_grad(loss, argnums=(0, 1))(W, b)
print("Loss:", loss_val)
print("Confirmation:", loss(W, b))
"""
    assert_same_output(run(src, SEED1_SETUP), "Loss: 5.6301613\nConfirmation: 5.6301613\n")


# ------------------------------------------- seed 002: the JAX autodiff docs (key 0)

# The 2024 docs were printed before JAX 0.5 made threefry "partitionable"; the
# same switch in irgrad.config reproduces those streams.
SEED2_SETUP = """
from irgrad import grad
jax.config.update("jax_threefry_partitionable", False)
key = jax.random.key(0)
def sigmoid(x): return 0.5 * (jnp.tanh(x / 2) + 1)
def predict(W, b, inputs): return sigmoid(jnp.dot(inputs, W) + b)
inputs = jnp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
targets = jnp.array([True, True, False, True])
def loss(W, b):
    preds = predict(W, b, inputs)
    label_probs = preds * targets + (1 - preds) * (1 - targets)
    return -jnp.sum(jnp.log(label_probs))
key, W_key, b_key = jax.random.split(key, 3)
W = jax.random.normal(W_key, (3,))
b = jax.random.normal(b_key, ())
"""


def test_seed2_argnums():
    src = """
W_grad = grad(loss, argnums=0)(W, b)
print(f'{W_grad=}')
W_grad = grad(loss)(W, b)
print(f'{W_grad=}')
b_grad = grad(loss, 1)(W, b)
print(f'{b_grad=}')
W_grad, b_grad = grad(loss, (0, 1))(W, b)
print(f'{W_grad=}')
print(f'{b_grad=}')
"""
    expected = """W_grad=Array([-0.16965583, -0.8774644 , -1.4901346 ], dtype=float32)
W_grad=Array([-0.16965583, -0.8774644 , -1.4901346 ], dtype=float32)
b_grad=Array(-0.29227245, dtype=float32)
W_grad=Array([-0.16965583, -0.8774644 , -1.4901346 ], dtype=float32)
b_grad=Array(-0.29227245, dtype=float32)
"""
    assert_same_output(run(src, SEED2_SETUP), expected)


def test_seed2_dict_and_value():
    src = """
def loss2(params_dict):
    preds = predict(params_dict['W'], params_dict['b'], inputs)
    label_probs = preds * targets + (1 - preds) * (1 - targets)
    return -jnp.sum(jnp.log(label_probs))
print(grad(loss2)({'W': W, 'b': b}))
loss_value, Wb_grad = jax.value_and_grad(loss, (0, 1))(W, b)
print('loss value', loss_value)
print('loss value', loss(W, b))
"""
    expected = """{'W': Array([-0.16965583, -0.8774644 , -1.4901346 ], dtype=float32),
 'b': Array(-0.29227245, dtype=float32)}
loss value 3.0519385
loss value 3.0519385
"""
    assert_same_output(run(src, SEED2_SETUP), expected)


def test_seed2_finite_differences():
    src = """
eps = 1e-4
b_grad_numerical = (loss(W, b + eps / 2.) - loss(W, b - eps / 2.)) / eps
print('b_grad_numerical', b_grad_numerical)
print('b_grad_autodiff', grad(loss, 1)(W, b))
key, subkey = jax.random.split(key)
vec = jax.random.normal(subkey, W.shape)
unitvec = vec / jnp.sqrt(jnp.vdot(vec, vec))
W_grad_numerical = (loss(W + eps / 2. * unitvec, b) - loss(W - eps / 2. * unitvec, b)) / eps
print('W_dirderiv_numerical', W_grad_numerical)
print('W_dirderiv_autodiff', jnp.vdot(grad(loss)(W, b), unitvec))
"""
    out = run(src, SEED2_SETUP)
    lines = dict(line.rsplit(" ", 1) for line in out.strip().splitlines())
    # Autodiff values are exact up to float32; the finite differences are eager float32
    # arithmetic, where the seed's own numbers carry ~1e-3 of rounding noise.
    assert abs(float(lines["b_grad_autodiff"]) - -0.29227245) < 1e-6
    assert abs(float(lines["W_dirderiv_autodiff"]) - -0.19909117) < 1e-6
    assert abs(float(lines["b_grad_numerical"]) - -0.29325485) < 5e-3
    assert abs(float(lines["W_dirderiv_numerical"]) - -0.2002716) < 5e-3
