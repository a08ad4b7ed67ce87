"""Tensor ops: slices, reshapes, concatenation, casts, and element extract / insert.

All are linear in their data operands, so forward mode applies the same op to the
tangents; reverse mode applies the transpose (a slice's is an insert into zeros, a
reshape's the inverse reshape); batching adds the batch as a new leading dimension.
"""

from __future__ import annotations

from .. import scalar_rules as S
from ..ad import or_zeros, unsupported, zeros_constant
from ..batch_core import DYNAMIC, Batch, batched_type, shape_or_scalar
from ..ir import PARALLEL, arith, dtype_of, generic, identity_map, ir, linalg, tensor
from .registry import rule

# --------------------------------------------------------------------------- reverse

def slice_args(op):
    a = op.attributes
    return dict(offsets=list(op.offsets), sizes=list(op.sizes), strides=list(op.strides),
                static_offsets=a["static_offsets"], static_sizes=a["static_sizes"],
                static_strides=a["static_strides"])


def extract_slice_reverse(ctx, op, d):
    src = op.operands[0]
    return [tensor.insert_slice(d[0], zeros_constant(src.type), **slice_args(op))]


def insert_slice_reverse(ctx, op, d):
    src = op.operands[0]
    ds = tensor.extract_slice(src.type, d[0], **slice_args(op))
    dd = tensor.insert_slice(zeros_constant(src.type), d[0], **slice_args(op))
    return [ds, dd]


def expand_shape_reverse(ctx, op, d):
    return [tensor.collapse_shape(op.operands[0].type, d[0], op.attributes["reassociation"])]


def collapse_shape_reverse(ctx, op, d):
    shape = ir.RankedTensorType(op.operands[0].type).shape
    return [tensor.expand_shape(op.operands[0].type, d[0], op.attributes["reassociation"], [], shape)]


def concat_reverse(ctx, op, d):
    dim = ir.IntegerAttr(op.attributes["dim"]).value
    res_shape = ir.RankedTensorType(op.results[0].type).shape
    out, offset = [], 0
    for v in op.operands:
        shape = ir.RankedTensorType(v.type).shape
        offs = [0] * len(shape)
        offs[dim] = offset
        out.append(tensor.extract_slice(v.type, d[0], [], [], [], offs, shape, [1] * len(shape)))
        offset += shape[dim]
    assert offset == res_shape[dim]
    return out


def cast_reverse(ctx, op, d):
    return [tensor.cast(op.operands[0].type, d[0])]


def extract_reverse(ctx, op, d):
    """v = x[i, j]: dx = (index == (i, j)) ? dv : 0, one elementwise generic. (IREE 3.13
    fails to compile tensor.insert into a filled tensor at a non-zero offset.)"""
    t = ir.RankedTensorType(op.operands[0].type)
    indices = list(op.operands)[1:]

    def body(_):
        hit = at_indices(indices)
        return d[0] if hit is None else S.select(hit, d[0], S.const(0.0, d[0]))

    dx = generic([], [], [tensor.empty(t.shape, t.element_type)], [identity_map(t.rank)], [PARALLEL] * t.rank, body)
    return dx + [None] * len(indices)


def at_indices(indices) -> ir.Value | None:
    """In a generic over a tensor's shape: whether the element is the one at `indices`
    (None for a 0-d tensor, whose one element always is)."""
    hit = None
    for k, i in enumerate(indices):
        eq = arith.CmpIOp(arith.CmpIPredicate.eq, linalg.IndexOp(k).result, i).result
        hit = eq if hit is None else arith.andi(hit, eq)
    return hit


def insert_reverse(ctx, op, d):
    """y = insert(s, x, i...): ds = dy[i...], dx = dy with 0 at i (an elementwise select,
    not tensor.insert: see extract_reverse)."""
    t = ir.RankedTensorType(op.operands[1].type)
    indices = list(op.operands)[2:]

    def body(dy, _):
        hit = at_indices(indices)
        return S.const(0.0, dy) if hit is None else S.select(hit, S.const(0.0, dy), dy)

    idm = identity_map(t.rank)
    dx = generic([d[0]], [idm], [tensor.empty(t.shape, t.element_type)], [idm], [PARALLEL] * t.rank, body)[0]
    return [tensor.extract(d[0], indices), dx] + [None] * len(indices)


# --------------------------------------------------------------------------- forward

def same_op(data_operands):
    """Rule for an op linear in its data operands: the same op applied to their
    tangents (zeros for operands without one); index operands are kept."""
    def rule(ctx, op, ts):
        positions = data_operands(op)
        new_operands = {k: or_zeros(ts[k], op.operands[k]) for k in positions}
        new = op.operation.clone()
        for k, v in new_operands.items():
            new.operands[k] = v
        return list(new.results)
    return rule


def first(op):
    return [0]


def first_two(op):
    return [0, 1]


def every(op):
    return list(range(len(op.operands)))


# --------------------------------------------------------------------------- batching

def static_attr(op, name) -> list[int]:
    return list(ir.DenseI64ArrayAttr(op.attributes[name]))


def extract_slice_batch(b: Batch, op) -> list:
    """x[o:o+s:t] -> xs[:, o:o+s:t] (the whole batch dimension, then the same slice)."""
    t = batched_type(op.results[0].type, b.size)
    return [tensor.extract_slice(t, b.get(op.operands[0]), b.index_operands(op, op.offsets),
                                 b.index_operands(op, op.sizes), b.index_operands(op, op.strides),
                                 [0, *static_attr(op, "static_offsets")], [b.size, *static_attr(op, "static_sizes")],
                                 [1, *static_attr(op, "static_strides")])]


def insert_slice_batch(b: Batch, op) -> list:
    """Insert each example's slice into that example's destination (both batched)."""
    src, dest = op.operands[0], op.operands[1]
    return [tensor.insert_slice(b.moved(src), b.moved(dest), b.index_operands(op, op.offsets),
                                b.index_operands(op, op.sizes), b.index_operands(op, op.strides),
                                [0, *static_attr(op, "static_offsets")], [b.size, *static_attr(op, "static_sizes")],
                                [1, *static_attr(op, "static_strides")])]


def reassociation(op) -> list[list[int]]:
    return [[ir.IntegerAttr(i).value for i in ir.ArrayAttr(g)] for g in ir.ArrayAttr(op.attributes["reassociation"])]


def batched_reassociation(op, expanded_rank: int) -> list[list[int]]:
    """[[0]] + each group shifted by one; an empty one (all unit dims) joins the batch group."""
    groups = reassociation(op)
    if not groups:
        return [list(range(expanded_rank + 1))]
    return [[0], *[[k + 1 for k in g] for g in groups]]


def expand_shape_batch(b: Batch, op) -> list:
    if len(op.operands) > 1:
        raise unsupported(op, "dynamic output shape", "batch")
    t = batched_type(op.results[0].type, b.size)
    groups = batched_reassociation(op, len(shape_or_scalar(op.results[0].type)))
    return [tensor.expand_shape(t, b.get(op.operands[0]), groups, [], list(t.shape))]


def collapse_shape_batch(b: Batch, op) -> list:
    t = batched_type(op.results[0].type, b.size)
    groups = batched_reassociation(op, len(shape_or_scalar(op.operands[0].type)))
    return [tensor.collapse_shape(t, b.get(op.operands[0]), groups)]


def concat_batch(b: Batch, op) -> list:
    """concat(xs, dim) -> concat(batched xs, dim + 1); unbatched operands are broadcast."""
    dim = ir.IntegerAttr(op.attributes["dim"]).value
    return [tensor.concat(batched_type(op.results[0].type, b.size), dim + 1, [b.moved(v) for v in op.operands])]


def cast_batch(b: Batch, op) -> list:
    return [tensor.cast(batched_type(op.results[0].type, b.size), b.get(op.operands[0]))]


def extract_batch(b: Batch, op) -> list:
    """x[i, j] of a batched x: the column xs[:, i, j] (a rank-reducing extract_slice).
    At batched indices (a gather): a generic over the batch reading x at each example's indices."""
    src, indices = op.operands[0], list(op.operands)[1:]
    if not any(b.is_batched(v) for v in indices):
        if not indices:
            return [b.get(src)]
        rank = len(indices) + 1
        return [tensor.extract_slice(batched_type(op.results[0].type, b.size), b.get(src),
                                     [b.get(v) for v in indices], [], [], [0] + [DYNAMIC] * len(indices),
                                     [b.size] + [1] * len(indices), [1] * rank)]
    ins = [b.get(v) for v in indices if b.is_batched(v)]

    def body(*bargs):
        it = iter(bargs[:len(ins)])
        idx = [next(it) if b.is_batched(v) else b.get(v) for v in indices]
        if b.is_batched(src):
            idx.insert(0, linalg.IndexOp(0).result)
        return tensor.extract(b.get(src), idx)

    out = tensor.empty([b.size], dtype_of(op.results[0]))
    return generic(ins, [identity_map(1)] * len(ins), [out], [identity_map(1)], [PARALLEL], body)


def insert_batch(b: Batch, op) -> list:
    """x[i, j] = s for a batched x or s: xs[:, i, j] = ss (a rank-reducing insert_slice)."""
    scalar, dest, indices = op.operands[0], op.operands[1], list(op.operands)[2:]
    n = len(indices)
    return [tensor.insert_slice(b.moved(scalar), b.moved(dest), b.index_operands(op, indices), [], [],
                                [0] + [DYNAMIC] * n, [b.size] + [1] * n, [1] * (n + 1))]


# --------------------------------------------------------------------------- registration

rule("tensor.extract_slice", reverse=extract_slice_reverse, forward=same_op(first), batch=extract_slice_batch)
rule("tensor.insert_slice", reverse=insert_slice_reverse, forward=same_op(first_two), batch=insert_slice_batch)
rule("tensor.expand_shape", reverse=expand_shape_reverse, forward=same_op(first), batch=expand_shape_batch)
rule("tensor.collapse_shape", reverse=collapse_shape_reverse, forward=same_op(first), batch=collapse_shape_batch)
rule("tensor.concat", reverse=concat_reverse, forward=same_op(every), batch=concat_batch)
rule("tensor.cast", reverse=cast_reverse, forward=same_op(first), batch=cast_batch)
rule("tensor.extract", reverse=extract_reverse, forward=same_op(first), batch=extract_batch)
rule("tensor.insert", reverse=insert_reverse, forward=same_op(first_two), batch=insert_batch)
