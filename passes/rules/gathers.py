"""Gathers: a linalg.generic whose body reads a tensor defined outside it with tensor.extract.

Forward mode: the tangent of a gather is the same gather from the tangent. Batching:
a batched source gets the batch index (linalg.index 0) as its first index. Reverse
mode: a reversal (what `rev` lowers to) is its own transpose; any other gather's
adjoint is a scatter-add, written as a one-hot select reduction (see gather_reverse).
"""

from __future__ import annotations

from .. import scalar_rules as S
from ..ad import (
    captured_values,
    clone_ops,
    domain_extents,
    generic_parts,
    is_constant,
    iterator_types,
    unsupported,
    zeros_of,
)
from ..ir import PARALLEL, REDUCTION, arith, dtype_of, generic, identity_map, ir, linalg, projection_map, tensor

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


def gather_reverse(ctx, gen, dres, generic_reverse) -> list:
    """Cotangents for a generic that reads an active tensor from outside its body.

    A reversal (what `rev` lowers to) is its own transpose: the source's cotangent is
    the reversed cotangent. Any other gather g(p) = src[idx(p)] (p the iteration
    domain) is split: G1 writes g over the whole domain, G2 is the generic reading g
    as an input, differentiated by `generic_reverse`; then g's cotangent is added into
    the source, dsrc[k] = sum_p (idx(p) == k ? dg(p) : 0), a one-hot select (exact: only
    the matching cotangents are added), O(|src| * |domain|) until scatters arrive.
    """
    src = reversal_source(gen)
    if src is not None:
        new = gen.operation.clone()
        for op in new.regions[0].blocks[0].operations:
            if op.operation.name == "tensor.extract":
                op.operands[0] = dres[0]
        ctx.add(src, new.results[0])
        return [None] * len(gen.operands)
    extracts = active_extracts(ctx, gen)
    n_in, n_out = len(gen.inputs), len(gen.outputs)
    g = gathered_values(gen, extracts)
    g2 = with_gathered_inputs(gen, extracts, g)
    ctx.active.update(g)
    cts = generic_reverse(ctx, g2, dres)
    for op, c in zip(extracts, cts[n_in:n_in + len(g)]):
        if c is not None:
            ctx.add(op.operands[0], scatter_add(gen, op, c))
    if not any(list(r.uses) for r in g2.results):
        g2.operation.erase()
    return cts[:n_in] + cts[n_in + len(g):n_in + len(g) + n_out]


def active_extracts(ctx, gen) -> list:
    """The body's tensor.extract ops reading an active tensor from outside (IRError for
    any other read of one)."""
    outside = [v for v in captured_values(gen) if v in ctx.active]
    body_ops = list(gen.regions[0].blocks[0].operations)
    extracts = [op for op in body_ops if op.operation.name == "tensor.extract" and op.operands[0] in outside]
    for op in body_ops:
        if op not in extracts and any(v in outside for v in op.operands):
            raise unsupported(gen, "its body reads a differentiable value defined outside it other than by "
                                   "tensor.extract")
    extents = domain_extents(gen)
    if any(e is None or e < 0 for e in extents):
        raise unsupported(gen, "its body reads a differentiable value defined outside it (a gather) over a "
                               "dynamic iteration domain")
    return extracts


def index_slice(gen, extracts) -> list:
    """The body ops (in order) that the extracts' indices depend on; IRError if one
    reads an accumulator."""
    block = gen.regions[0].blocks[0]
    accs = set(list(block.arguments)[len(gen.inputs):])
    needed = {v for op in extracts for v in list(op.operands)[1:]}
    ops = []
    for op in reversed(list(block.operations)):
        if any(r in needed for r in op.results):
            if any(v in accs for v in op.operands):
                raise unsupported(gen, "a gather index depends on the accumulator")
            ops.append(op)
            needed.update(op.operands)
    return ops[::-1]


def gathered_values(gen, extracts) -> list:
    """G1: one all-parallel generic over gen's domain writing each extract's value."""
    _, args, _, in_maps, _ = generic_parts(gen)
    shape = domain_extents(gen)
    n_in, n_dims = len(gen.inputs), len(shape)
    recompute = index_slice(gen, extracts)

    def body(*bargs):
        mapping = dict(zip(args[:n_in], bargs[:n_in]))
        clone_ops(recompute, mapping)
        return [tensor.extract(op.operands[0], [mapping.get(v, v) for v in list(op.operands)[1:]])
                for op in extracts]

    inits = [tensor.empty(shape, dtype_of(op.results[0])) for op in extracts]
    return generic(list(gen.inputs), in_maps, inits, [identity_map(n_dims)] * len(extracts),
                   [PARALLEL] * n_dims, body)


def with_gathered_inputs(gen, extracts, g):
    """G2: `gen` with each extract's value read from g (an input over the whole domain)."""
    _, args, ops, in_maps, out_maps = generic_parts(gen)
    n_in, n_dims = len(gen.inputs), len(domain_extents(gen))
    replaced = [op.results[0] for op in extracts]

    def body(*bargs):
        mapping = dict(zip(args[:n_in] + replaced + args[n_in:], bargs))
        clone_ops([op for op in ops[:-1] if op not in extracts], mapping)
        return [mapping.get(v, v) for v in ops[-1].operands]

    results = generic(list(gen.inputs) + g, in_maps + [identity_map(n_dims)] * len(g), list(gen.outputs),
                      out_maps, iterator_types(gen), body, [r.type for r in gen.results])
    return results[0].owner


def scatter_add(gen, extract, dg: ir.Value) -> ir.Value:
    """dsrc[k] = sum_p (idx(p) == k ? dg(p) : 0) for the gather `extract` in gen's body:
    one generic over (k, p), k parallel, p reduced."""
    _, args, _, in_maps, _ = generic_parts(gen)
    src = extract.operands[0]
    rank, n_in, n_dims = ir.RankedTensorType(src.type).rank, len(gen.inputs), len(domain_extents(gen))
    shifted = [ir.AffineMap.get(rank + n_dims, 0, [r.compose(shift_dims(n_dims, rank)) for r in m.results])
               for m in in_maps]
    recompute = index_slice(gen, [extract])

    def body(*bargs):
        mapping = dict(zip(args[:n_in], bargs[:n_in]))
        clone_ops(recompute, mapping, shift_index=rank)
        hit = None
        for k, i in enumerate(list(extract.operands)[1:]):
            eq = arith.CmpIOp(arith.CmpIPredicate.eq, linalg.IndexOp(k).result, mapping.get(i, i)).result
            hit = eq if hit is None else arith.andi(hit, eq)
        d, acc = bargs[n_in], bargs[n_in + 1]
        return arith.addf(acc, d if hit is None else S.select(hit, d, S.const(0.0, d)))

    return generic(list(gen.inputs) + [dg], shifted + [projection_map(rank + n_dims, range(rank, rank + n_dims))],
                   [zeros_of(src.type)], [projection_map(rank + n_dims, range(rank))],
                   [PARALLEL] * rank + [REDUCTION] * n_dims, body)[0]


def shift_dims(n_dims: int, by: int) -> ir.AffineMap:
    """(d0, ..., d{n+by-1}) -> (d{by}, ..., d{by+n-1}): a map over the domain, read in a domain `by` dims larger."""
    return ir.AffineMap.get(n_dims + by, 0, [ir.AffineDimExpr.get(k + by) for k in range(n_dims)])


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
