"""Elementwise ops: arith / math on scalars (inside a linalg.generic's body) or on whole tensors.

The derivatives come from the one scalar table (scalar_rules.PARTIALS, CASTS,
NON_DIFFERENTIABLE), shared by reverse and forward mode; reverse_scalar_ops and
forward_scalar_ops also sweep generic bodies for the structured rules. Batching an
elementwise op is the same op on the batched tensors. Every arith / math op has its
three rules here, no derivative (integer ops, comparisons, floor, ...), or a refusal.
"""

from __future__ import annotations

from .. import scalar_rules as S
from ..ad import add_to, dtype_of_type, unsupported
from ..batch_core import Batch, batched_type, copy_generic
from ..ir import arith, ir, is_float, projection_map, tensor
from .registry import NO_DERIVATIVE, refusal, refuse, rule

# --------------------------------------------------------------------------- reverse

def reverse_scalar_ops(ops, mapping: dict, cot: dict, active: set) -> None:
    """Reverse sweep over scalar (or tensor-typed elementwise) ops.

    `mapping` takes an op's values to the values to compute partials with,
    `cot` maps original values to their accumulated cotangents (added in place).
    """
    for op in reversed(ops):
        results = [r for r in op.results if r in cot]
        name = op.operation.name
        if not results or name in S.NON_DIFFERENTIABLE:  # floor, round, ...: zero derivative
            continue
        d = cot[op.results[0]]
        xs = [mapping.get(v, v) for v in op.operands]
        if name == "arith.select":
            c = xs[0]
            zero = S.const(0.0, d)
            contribs = [None, S.select(c, d, zero), S.select(c, zero, d)]
        elif name in S.CASTS:
            contribs = [S.cast_to(d, xs[0].type)]
        elif name in S.PARTIALS:
            partials = S.PARTIALS[name](xs, mapping.get(op.results[0], op.results[0]))
            contribs = [None if p is None else S.scale(d, p) for p in partials]
        else:
            raise refusal(op, "reverse") or unsupported(op)
        for v, c in zip(op.operands, contribs):
            if v in active:
                add_to(cot, v, c)


def scalar_reverse(ctx, op, d):
    cot = {op.results[0]: d[0]}
    reverse_scalar_ops([op], {}, cot, ctx.active)
    # `cot` already sums over repeated operands (x * x): report each value once.
    firsts = {v: k for k, v in reversed(list(enumerate(op.operands)))}
    return [cot.get(v) if firsts[v] == k else None for k, v in enumerate(op.operands)]


# --------------------------------------------------------------------------- forward

def total(terms):
    """Sum of the non-None values in `terms` (None when there are none)."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else arith.addf(out, t)
    return out


def or_const_zero(t, like: ir.Value) -> ir.Value:
    """`t`, or a zero scalar of `like`'s type (inside a generic's body)."""
    return t if t is not None else S.const(0.0, like)


def scalar_tangent(op, xs, y, ts):
    """Tangent of a scalar (or elementwise tensor) op's result: sum_i partial_i * t_i.

    `xs` are the operands to compute partials with, `y` the result, `ts` the operand
    tangents (None for zero). arith.select is linear in its two values; a cast maps
    the tangent through the same cast; NON_DIFFERENTIABLE ops give no tangent.
    """
    name = op.operation.name
    if name in S.NON_DIFFERENTIABLE:
        return None
    if name == "tensor.extract":   # a gather from a tensor defined outside the body
        return None if ts[0] is None else tensor.extract(ts[0], xs[1:])
    if name == "arith.select":
        if ts[1] is None and ts[2] is None:
            return None
        zero = S.const(0.0, y)
        return S.select(xs[0], zero if ts[1] is None else ts[1], zero if ts[2] is None else ts[2])
    if name in S.CASTS:
        return S.cast_to(ts[0], y.type)
    if name not in S.PARTIALS:
        raise refusal(op, "forward") or unsupported(op, mode="forward")
    partials = S.PARTIALS[name](xs, y)
    return total(None if t is None or p is None else S.scale(t, p) for t, p in zip(ts, partials))


def forward_scalar_ops(ops, mapping: dict, tan: dict) -> None:
    """Forward sweep: for each op with a tangent operand, record its result's tangent
    in `tan` (keyed by original values; `mapping` gives the values to compute with)."""
    for op in ops:
        ts = [tan.get(v) for v in op.operands]
        if all(t is None for t in ts) or not op.results or not is_float(dtype_of_type(op.results[0].type)):
            continue
        xs = [mapping.get(v, v) for v in op.operands]
        t = scalar_tangent(op, xs, mapping.get(op.results[0], op.results[0]), ts)
        if t is not None:
            tan[op.results[0]] = t


def scalar_forward(ctx, op, ts):
    return [scalar_tangent(op, list(op.operands), op.results[0], ts)]


# --------------------------------------------------------------------------- batching

def elementwise_batch(b: Batch, op) -> list:
    """An arith / math op on scalars or whole tensors: the same op on the batched
    tensors (a batched scalar is a tensor<B x T>); unbatched operands are broadcast.
    A select's scalar condition stays scalar; a batched one is broadcast to the values' shape."""
    result_types = [batched_type(r.type, b.size) for r in op.results]
    shape = list(result_types[0].shape)
    operands = []
    for k, v in enumerate(op.operands):
        scalar_cond = op.operation.name == "arith.select" and k == 0 and not isinstance(v.type, ir.ShapedType)
        if scalar_cond and not b.is_batched(v):
            operands.append(b.get(v))
        elif scalar_cond and len(shape) > 1:
            operands.append(copy_generic(b.get(v), projection_map(len(shape), [0]), shape))
        else:
            operands.append(b.moved(v))
    attrs = {k: op.attributes[k] for k in op.attributes}
    new = ir.Operation.create(op.operation.name, results=result_types, operands=operands, attributes=attrs)
    return list(new.results)


# --------------------------------------------------------------------------- registration

rule(*S.PARTIALS, *S.CASTS, "arith.select", reverse=scalar_reverse, forward=scalar_forward, batch=elementwise_batch)
rule(*S.NON_DIFFERENTIABLE, **NO_DERIVATIVE, batch=elementwise_batch)

# Integer and index arithmetic, int -> float conversions, bit casts (JAX: a zero
# derivative) and float predicates: no float operand carries a derivative into them.
NO_FLOAT_DERIVATIVE = [
    "arith.addi", "arith.addui_extended", "arith.andi", "arith.bitcast", "arith.ceildivsi", "arith.ceildivui",
    "arith.cmpi", "arith.constant", "arith.divsi", "arith.divui", "arith.extsi", "arith.extui", "arith.floordivsi",
    "arith.index_cast", "arith.index_castui", "arith.maxsi", "arith.maxui", "arith.minsi", "arith.minui",
    "arith.muli", "arith.mulsi_extended", "arith.mului_extended", "arith.ori", "arith.remsi", "arith.remui",
    "arith.shli", "arith.shrsi", "arith.shrui", "arith.sitofp", "arith.subi", "arith.subui_extended",
    "arith.trunci", "arith.uitofp", "arith.xori", "math.absi", "math.ctlz", "math.ctpop", "math.cttz",
    "math.ipowi", "math.isnormal",
]
rule(*NO_FLOAT_DERIVATIVE, **NO_DERIVATIVE, batch=elementwise_batch)

# Float ops irgrad batches but does not differentiate (yet).
NOT_YET = {
    "arith.convertf": "a conversion between float formats of one width has no derivative rule yet",
    "arith.flush_denormals": "no derivative rule yet",
    "arith.scaling_extf": "no derivative rule yet (a scaled float-format conversion)",
    "arith.scaling_truncf": "no derivative rule yet (a scaled float-format conversion)",
    "arith.maximumnumf": "no derivative rule yet (JAX differentiates max)",
    "arith.minimumnumf": "no derivative rule yet (JAX differentiates min)",
    "math.clampf": "no derivative rule yet (JAX differentiates clamp)",
    "math.erfc": "no derivative rule yet (JAX differentiates erfc)",
    "math.fpowi": "no derivative rule yet (JAX differentiates integer_pow)",
    "math.sincos": "no derivative rule yet (JAX differentiates sin and cos)",
}
for _name, _why in NOT_YET.items():
    rule(_name, batch=elementwise_batch)
    refuse(_name, reason=_why)
