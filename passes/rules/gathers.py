"""Gathers: a linalg.generic whose body reads a tensor defined outside it with tensor.extract.

Forward mode: the tangent of a gather is the same gather from the tangent. Batching:
a batched source gets the batch index (linalg.index 0) as its first index. Reverse
mode: a reversal (what `rev` lowers to) is its own transpose; other gathers are refused
(their adjoint is a scatter-add).
"""

from __future__ import annotations

from ..ad import captured_values, is_constant, unsupported
from ..ir import PARALLEL, ir, linalg, tensor

# --------------------------------------------------------------------------- reverse

def reversal_source(gen):
    """The tensor a generic copies reversed along some axes, as `rev` lowers:
    out[i] = src[i'] with i'_k = i_k or (n_k - 1) - i_k, read by tensor.extract. None
    for any other generic."""
    ops = list(gen.regions[0].blocks[0].operations)
    if len(gen.inputs) or len(gen.outputs) != 1 or not all(str(a) == PARALLEL for a in gen.iterator_types):
        return None
    extracts = [op for op in ops if op.operation.name == "tensor.extract"]
    allowed = {"linalg.index", "arith.constant", "arith.subi", "tensor.extract", "linalg.yield"}
    if len(extracts) != 1 or any(op.operation.name not in allowed for op in ops) or \
            ops[-1].operands[0] != extracts[0].results[0]:
        return None
    src, idx = extracts[0].operands[0], list(extracts[0].operands)[1:]
    shape = ir.RankedTensorType(src.type).shape
    if shape != ir.RankedTensorType(gen.results[0].type).shape:
        return None
    for k, v in enumerate(idx):
        if shape[k] == 1 and is_constant(v):   # canonicalized linalg.index of a unit dim
            continue
        owner = None if isinstance(v.owner, ir.Block) else v.owner.operation
        if owner is not None and owner.name == "arith.subi":
            c, v = owner.operands[0], owner.operands[1]
            if not is_constant(c) or ir.IntegerAttr(c.owner.operation.attributes["value"]).value != shape[k] - 1:
                return None
            owner = None if isinstance(v.owner, ir.Block) else v.owner.operation
        if owner is None or owner.name != "linalg.index" or ir.IntegerAttr(owner.attributes["dim"]).value != k:
            return None
    return src


def gather_reverse(ctx, gen, dres) -> list:
    """A generic that reads an active tensor from outside: rev is its own transpose,
    so the cotangent of the source is the reversed cotangent. No cotangent for the
    generic's operands (a reversal has no inputs). Other gathers are refused."""
    src = reversal_source(gen)
    if src is None:
        raise unsupported(gen, "its body reads a differentiable value defined outside it")
    new = gen.operation.clone()
    for op in new.regions[0].blocks[0].operations:
        if op.operation.name == "tensor.extract":
            op.operands[0] = dres[0]
    ctx.add(src, new.results[0])
    return [None] * len(gen.operands)


# --------------------------------------------------------------------------- forward

def outer_tangents(ctx, gen) -> dict:
    """Tangents of the tensors the body gathers from (tensor.extract of a value
    defined outside it): the tangent of a gather is the same gather from the tangent."""
    outer = {v: ctx.tan[v] for v in captured_values(gen) if v in ctx.tan}
    for op in gen.regions[0].blocks[0].operations:
        if any(v in outer and (op.operation.name != "tensor.extract" or k) for k, v in enumerate(op.operands)):
            raise unsupported(gen, "its body reads a differentiable value defined outside it other than by "
                                   "tensor.extract", "forward")
    return outer


def gather_tangent(xs, ts):
    """Tangent of v = tensor.extract(src, i...) in a body: the same extract from src's tangent."""
    return None if ts[0] is None else tensor.extract(ts[0], xs[1:])


# --------------------------------------------------------------------------- batching

def batch_gather(b, op, values: dict):
    """Batched tensor.extract(src, i...) in a generic's body, `src` batched and defined
    outside: src[d0, i...] (the batch is the new dim 0). `values` maps the body's old
    values to the new body's."""
    idx = [linalg.IndexOp(0).result, *[values.get(v, b.get(v)) for v in list(op.operands)[1:]]]
    return tensor.extract(b.get(op.operands[0]), idx)
