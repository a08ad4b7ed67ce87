"""Derivative and batching rules, one module per op family, each registering its
reverse, forward and batching rules side by side in the tables of `registry`:

    elementwise  arith / math ops (scalars in generic bodies, or whole tensors)
    structured   linalg.generic (every named linalg op, generalized first)
    tensor_ops   tensor slices, reshapes, concat, cast, extract / insert
    gathers      tensor.extract of an outside tensor inside a generic's body
    calls        func.call: custom-derivative calls, stop_gradient
"""

from . import calls, elementwise, gathers, structured, tensor_ops  # noqa: F401  (each fills the tables)
from .registry import BATCH, FORWARD, REFUSED, REVERSE, rule_for

__all__ = ["BATCH", "FORWARD", "REFUSED", "REVERSE", "rule_for"]
