"""irgrad: JAX's autodiff API built as a compiler.

Python functions are traced into MLIR (func / linalg / tensor / arith / math),
derivatives are produced by passes that rewrite that IR, and IREE compiles and
runs the result.

>>> import irgrad as jax
>>> import irgrad.numpy as jnp
>>> print(jax.grad(jnp.tanh)(2.0))
0.070650816
"""

from irgrad.frontend.api import grad, jit, value_and_grad
from irgrad.frontend.array import Array
from irgrad.frontend.core import ConcretizationTypeError, ShapedArray, UnexpectedTracerError
from irgrad.runtime.errors import IRError

from . import config, errors, nn, numpy, optimizers, random, tree_util

__version__ = "0.1.0"

__all__ = [
    "Array", "ConcretizationTypeError", "IRError", "ShapedArray", "UnexpectedTracerError",
    "config", "errors", "grad", "jit", "nn", "numpy", "optimizers", "random", "tree_util", "value_and_grad",
]
