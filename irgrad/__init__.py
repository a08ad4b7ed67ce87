"""irgrad: JAX's autodiff API built as a compiler.

Python functions are traced into MLIR (func / linalg / tensor / arith / math),
derivatives are produced by passes that rewrite that IR, and IREE compiles and
runs the result.

>>> import irgrad as jax
>>> import irgrad.numpy as jnp
>>> print(jax.grad(jnp.tanh)(2.0))
0.070650816
"""

from irgrad.frontend.array import Array
from irgrad.frontend.devices import (
    Device,
    default_backend,
    default_device,
    device_count,
    device_get,
    device_put,
    devices,
    local_device_count,
    local_devices,
)
from irgrad.frontend.export import ArtifactError, ShapeDtypeStruct, export, load
from irgrad.runtime.errors import IRError

from . import tree_util

# --- The names imported in this block need iree.compiler (tracing, passes, compiling).
# Where only iree-base-runtime is installed, `irgrad.load` still runs exported artifacts
# and these names raise an ImportError saying what is missing (see __getattr__ below).
try:
    from irgrad.frontend.api import grad, jit, value_and_grad
    from irgrad.frontend.core import ConcretizationTypeError, ShapedArray, UnexpectedTracerError
    from irgrad.frontend.custom import custom_jvp, custom_vjp
    from irgrad.frontend.transforms import hessian, jacfwd, jacobian, jacrev, jvp, linearize, vjp, vmap

    from . import config, errors, lax, nn, numpy, optimizers, random, test_util, tree_util
    _compiler_missing = None
except ImportError as _e:
    if not (_e.name or "").startswith("iree.compiler"):
        raise
    _compiler_missing = _e
# --- end of the block needing iree.compiler

__version__ = "0.1.0"

__all__ = [
    "Array", "ConcretizationTypeError", "IRError", "ShapedArray", "UnexpectedTracerError",
    "config", "custom_jvp", "custom_vjp", "errors", "grad", "hessian", "jacfwd", "jacobian", "jacrev", "jit", "jvp",
    "lax", "linearize", "nn", "numpy", "optimizers", "random", "test_util", "tree_util", "value_and_grad", "vjp",
    "vmap",
]

# --- AOT artifacts (export / load) and running without iree.compiler
__all__ += ["ArtifactError", "ShapeDtypeStruct", "export", "load"]

# --- Devices (CPU, Vulkan, CUDA)
__all__ += ["Device", "default_backend", "default_device", "device_count", "device_get", "device_put", "devices",
            "local_device_count", "local_devices"]


def __getattr__(name):
    """Only reached for names missing above: those needing the compiler, when it is absent."""
    if _compiler_missing is not None and name in __all__:
        raise ImportError(f"irgrad.{name} needs the IREE compiler (pip install iree-base-compiler): "
                          f"{_compiler_missing}. Without it irgrad only runs exported artifacts (irgrad.load).")
    raise AttributeError(f"module 'irgrad' has no attribute {name!r}")
