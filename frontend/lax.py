"""irgrad.lax: the lax functions autodiff code reaches for.

>>> import irgrad, irgrad.numpy as jnp
>>> float(irgrad.grad(lambda x: x * stop_gradient(x))(3.0))
3.0
"""

from __future__ import annotations

import numpy as np

from . import dtypes, tree_util
from . import numpy_api as jnp
from .primitives import bind

__all__ = ["stop_gradient"]


def stop_gradient(x):
    """x, as a value with zero derivative in every transformation (pytrees mapped).

    In the IR it is the op `"irgrad.stop_gradient"`, which the reverse and forward
    passes treat as a constant, the batching pass maps through, and which is removed
    before IREE compiles the module.

    >>> import irgrad
    >>> irgrad.grad(lambda x: stop_gradient(x) ** 2 + x)(3.0)
    Array(1., dtype=float32, weak_type=True)
    """
    def stop(leaf):
        leaf = jnp.asarray(leaf)
        if not dtypes.is_float(np.dtype(leaf.dtype)):
            return leaf
        return bind("stop_gradient", leaf)
    return tree_util.tree_map(stop, x)
