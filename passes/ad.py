"""The AD core shared by the reverse, forward and batching passes.

Preparing a function (inline calls, generalize named linalg ops, normalise
reductions), finding functions, activity, the values a region reads from outside,
cloning ops, classifying a linalg.generic's outputs (maps and add / max / min / mul
reductions), zeros, and the one error every pass raises for an op it has no rule for.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import scalar_rules as S
from .ir import (
    PARALLEL,
    REDUCTION,
    IRError,
    arith,
    dtype_of,
    generic,
    identity_map,
    ir,
    is_float,
    is_stop_gradient,
    linalg,
    map_dims,
    projection_map,
    run_pipeline,
    scalar_constant,
    tensor,
)

PREPARE = "builtin.module(inline, func.func(linalg-generalize-named-ops))"

# Ops with no differentiable operands (or none at all): their results carry no derivative.
INACTIVE_OPS = {"tensor.empty", "arith.constant", "tensor.dim", "linalg.index", *S.NON_DIFFERENTIABLE}


# --------------------------------------------------------------------------- errors

_NO_RULE = {"reverse": "irgrad reverse mode: no rule for", "forward": "irgrad forward mode: no rule for",
            "batch": "irgrad vmap: no batching rule for"}


def where_op(op) -> str:
    """' at <location>' for an op with a known location, else ''."""
    loc = str(op.location)
    return "" if loc == "loc(unknown)" else f" at {loc}"


def unsupported(op, why: str = "", mode: str = "reverse") -> IRError:
    """The error for an op `mode` ("reverse", "forward", "batch") has no rule for.

    >>> unsupported(op, "dynamic output shape", "batch")   # doctest: +SKIP
    IRError("irgrad vmap: no batching rule for 'tensor.expand_shape': dynamic output shape")
    """
    name = op.operation.name
    return IRError(f"{_NO_RULE[mode]} '{name}'{where_op(op)}{': ' + why if why else ''}")


# --------------------------------------------------------------------------- types

def dtype_of_type(t: ir.Type) -> ir.Type:
    """The element type of a tensor type, or the type itself for a scalar type."""
    return ir.RankedTensorType(t).element_type if isinstance(t, ir.RankedTensorType) else t


def tensor_type_of(v: ir.Value) -> ir.Type:
    """The type of tensor `v`, or the 0-d tensor type holding scalar `v`."""
    return v.type if isinstance(v.type, ir.RankedTensorType) else ir.RankedTensorType.get([], v.type)


def is_constant(v: ir.Value) -> bool:
    return not isinstance(v.owner, ir.Block) and v.owner.operation.name == "arith.constant"


# --------------------------------------------------------------------------- zeros

def zeros_of(t: ir.Type) -> ir.Value:
    """Zeros of type `t`: a filled tensor, or a scalar constant."""
    if isinstance(t, ir.RankedTensorType):
        t = ir.RankedTensorType(t)
        return linalg.fill(scalar_constant(0.0, t.element_type), outs=[tensor.empty(t.shape, t.element_type)])
    return scalar_constant(0.0, t)


def zeros_like(v: ir.Value) -> ir.Value:
    """Zeros shaped as `v`; a dynamic size is read from `v` (`tensor.dim`)."""
    t = v.type
    if isinstance(t, ir.RankedTensorType) and not ir.RankedTensorType(t).has_static_shape:
        t = ir.RankedTensorType(t)
        sizes = [tensor.dim(v, arith.constant(ir.IndexType.get(), i)) if t.is_dynamic_dim(i) else n
                 for i, n in enumerate(t.shape)]
        return linalg.fill(scalar_constant(0.0, t.element_type), outs=[tensor.empty(sizes, t.element_type)])
    return zeros_of(t)


def or_zeros(t, like: ir.Value) -> ir.Value:
    """`t`, or zeros of `like`'s type when `t` is None."""
    return t if t is not None else zeros_like(like)


def zeros_constant(t: ir.Type) -> ir.Value:
    """Zeros of tensor type `t` as a splat constant. Used as insert_slice destinations:
    IREE 3.13's dispatch-creation preprocessing folds insert_slice(expand_shape(
    insert_slice(d, fill))) into an invalid insert_slice ("expected 2 offset values")
    when the destinations are linalg.fill, not when they are constants."""
    t = ir.RankedTensorType(t)
    return arith.constant(t, ir.DenseElementsAttr.get_splat(t, ir.FloatAttr.get(t.element_type, 0.0)))


# ------------------------------------------------------------------ small builders

def add(a: ir.Value, b: ir.Value) -> ir.Value:
    """a + b for two float tensors of one shape (a linalg.generic) or scalars."""
    if not isinstance(a.type, ir.RankedTensorType):
        return arith.addf(a, b)
    t = ir.RankedTensorType(a.type)
    rank = t.rank
    idm = identity_map(rank)
    return generic([a, b], [idm, idm], [tensor.empty(t.shape, t.element_type)], [idm], [PARALLEL] * rank,
                   lambda x, y, _: arith.addf(x, y))[0]


def add_to(into: dict, v: ir.Value, c) -> None:
    """into[v] += c (c None: nothing)."""
    if c is not None:
        into[v] = add(into[v], c) if v in into else c


def elementwise(fn, values):
    """fn applied elementwise to tensors of one shape (one generic)."""
    t = ir.RankedTensorType(values[0].type)
    idm = identity_map(t.rank)
    return generic(values, [idm] * len(values), [tensor.empty(t.shape, t.element_type)], [idm],
                   [PARALLEL] * t.rank, lambda *a: fn(*a[:-1]))[0]


# ------------------------------------------------------------------ cloning

def clone_op(op, mapping: Mapping, shift_index: int = 0):
    """Clone `op` at the insertion point, rewriting every operand (nested ones too)
    through `mapping`; with shift_index k, each linalg.index d becomes linalg.index d+k.
    Returns the new operation."""
    new = op.operation.clone()
    i64 = ir.IntegerType.get_signless(64)

    def fix(o):
        for k, v in enumerate(o.operands):
            if v in mapping:
                o.operands[k] = mapping[v]
        if shift_index and o.name == "linalg.index":
            o.attributes["dim"] = ir.IntegerAttr.get(i64, ir.IntegerAttr(o.attributes["dim"]).value + shift_index)
        return ir.WalkResult.ADVANCE
    new.walk(fix)
    return new


def clone_ops(ops, mapping: dict, shift_index: int = 0) -> None:
    """Clone `ops` at the insertion point through `mapping` (see clone_op), recording
    the clones' results in it."""
    for op in ops:
        new = clone_op(op, mapping, shift_index)
        mapping.update(zip(op.results, new.results))


# ------------------------------------------------------------------ activity

def captured_values(op) -> list:
    """Values that `op`'s regions (at any depth) read but do not define."""
    inside, out = set(), []

    def visit(inner):
        for region in inner.regions:
            for blk in region.blocks:
                inside.update(blk.arguments)
                for o in blk.operations:
                    out.extend(v for v in o.operands if v not in inside and v not in out)
                    inside.update(o.results)
                    visit(o)
    visit(op)
    return out


def read_operands(op) -> list:
    """The operands `op` depends on: a linalg.generic does not depend on an operand
    whose block argument its body never reads (a shape carrier, an overwritten init),
    so that operand gets no (co)tangent, not a zero times an infinite partial."""
    operands = list(op.operands)
    if op.operation.name == "linalg.generic":
        args = list(op.regions[0].blocks[0].arguments)
        operands = [v for v, a in zip(operands, args) if list(a.uses)]
    return [*operands, *captured_values(op)]


def activity(fn, wrt_args, seeded_results) -> set:
    """Values that depend on a wrt argument and that a seeded result depends on."""
    ops = list(fn.entry_block.operations)
    reads = {op: read_operands(op) for op in ops}
    fwd = set(wrt_args)
    for op in ops:
        if op.operation.name in INACTIVE_OPS or is_stop_gradient(op):
            continue
        if any(v in fwd for v in reads[op]):
            fwd.update(r for r in op.results if is_float(dtype_of(r)))
    bwd = set(seeded_results)
    for op in reversed(ops):
        if any(r in bwd for r in op.results):
            bwd.update(reads[op])
    return fwd & bwd


def body_activity(block, seeds) -> set:
    """Values in a generic's body that depend on the block arguments in `seeds`."""
    active = set(seeds)
    for op in block.operations:
        name = op.operation.name
        if name in S.NON_DIFFERENTIABLE or name == "linalg.yield":
            continue
        if any(v in active for v in op.operands):
            active.update(r for r in op.results if is_float(r.type))
    return active


# ------------------------------------------------------------------ functions

def lookup(module: ir.Module, name: str):
    """The func.func @name of `module` (IRError if there is none).

    >>> lookup(module, "f").attributes["sym_name"]     # doctest: +SKIP
    StringAttr("f")
    """
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op
    raise IRError(f"irgrad: no function @{name} in the module")


def has_function(module: ir.Module, name: str) -> bool:
    return any(op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name
               for op in module.body.operations)


def prepare(module: ir.Module, name: str):
    """Inline calls and generalize named linalg ops (PREPARE), then split_sub_reductions;
    return @name. The inliner erases private functions nobody calls, so @name is
    public meanwhile."""
    fn = lookup(module, name)
    private = "sym_visibility" in fn.attributes
    if private:
        del fn.attributes["sym_visibility"]
    run_pipeline(module, PREPARE, f"{name}-prepare")
    fn = lookup(module, name)
    if private:
        fn.attributes["sym_visibility"] = ir.StringAttr.get("private")
    split_sub_reductions(fn)
    return fn


def split_sub_reductions(fn) -> None:
    """Rewrite reductions `acc - e` as `acc + (-e)`. Canonicalization folds the adjoint
    of a broadcast subtraction, a sum of negated cotangents, into `subf(acc, e)`; both
    passes know the add reduction, so they get that form back."""
    for op in fn.regions[0].blocks[0].operations:
        if op.operation.name != "linalg.generic":
            continue
        block = op.regions[0].blocks[0]
        accs = list(block.arguments)[len(op.inputs):]
        for inner in list(block.operations):
            if inner.operation.name == "arith.subf" and inner.operands[0] in accs:
                with ir.InsertionPoint(inner), inner.location:
                    total = arith.addf(inner.operands[0], arith.negf(inner.operands[1]))
                inner.results[0].replace_all_uses_with(total)
                inner.operation.erase()


def explicit_captures(block) -> None:
    """Rewrite each linalg.generic whose body reads a float scalar defined outside it
    (other than a constant) to take that scalar as an input with the map (d0, ...) -> (),
    so the generic rules differentiate it like any other input."""
    for gen in list(block.operations):
        if gen.operation.name != "linalg.generic":
            continue
        extra = [v for v in captured_values(gen) if not isinstance(v.type, ir.ShapedType)
                 and is_float(v.type) and not is_constant(v)]
        if not extra:
            continue
        n_in = len(gen.inputs)
        maps = [a.value for a in gen.indexing_maps]
        body = gen.regions[0].blocks[0]
        args, ops = list(body.arguments), list(body.operations)

        def build(*bargs, args=args, ops=ops, extra=extra, n_in=n_in):
            mapping = dict(zip(args[:n_in] + extra + args[n_in:], bargs))
            clone_ops(ops[:-1], mapping)
            return [mapping.get(v, v) for v in ops[-1].operands]

        with ir.InsertionPoint(gen):
            scalar_map = ir.AffineMap.get(maps[0].n_dims, 0, [])
            new = generic(list(gen.inputs) + extra, maps[:n_in] + [scalar_map] * len(extra), list(gen.outputs),
                          maps[n_in:], iterator_types(gen), build, [r.type for r in gen.results])
        for old, r in zip(gen.results, new):
            old.replace_all_uses_with(r)
        gen.operation.erase()


# ------------------------------------------------------------------ linalg.generic anatomy

# The combiner of a reduction through the accumulator, by op name.
COMBINERS = {"arith.addf": "add", "arith.maximumf": "max", "arith.minimumf": "min",
             "arith.maxnumf": "max", "arith.minnumf": "min", "arith.mulf": "mul"}


def iterator_types(gen) -> list[str]:
    """A generic's iterator types as PARALLEL / REDUCTION strings (what `generic` takes)."""
    return [str(a) for a in gen.iterator_types]


def all_parallel(gen) -> bool:
    return all(t == PARALLEL for t in iterator_types(gen))


def generic_parts(gen):
    """(body block, its arguments, its ops, input maps, output maps)."""
    block = gen.regions[0].blocks[0]
    maps = [a.value for a in gen.indexing_maps]
    n_in = len(gen.inputs)
    return block, list(block.arguments), list(block.operations), maps[:n_in], maps[n_in:]


def reduction_kinds(gen, needed, mode: str = "reverse"):
    """Classify a generic's outputs; return (kinds, recompute).

    Per output: ("map", yielded value, None) when the value reads no accumulator, or
    (kind, expression, combiner op) for yield combiner(expression, acc) with add / max /
    min / mul as the combiner and acc used nowhere else; ("other", None, None) for an
    output not in `needed` (an argmax's index), which must be neither, else an IRError.
    `recompute`: the body ops that read no accumulator (the ones a derivative generic
    recomputes). Example: out = sum_i x_i * y_i yields addf(mulf(x, y), acc):
    [("add", mulf result, addf op)], recompute [mulf].
    """
    block, args, ops, _, _ = generic_parts(gen)
    n_in = len(gen.inputs)
    yielded = list(ops[-1].operands)
    reads_acc = set(args[n_in:])
    for op in ops[:-1]:
        if any(v in reads_acc for v in op.operands):
            reads_acc.update(op.results)
    kinds = []
    for j, acc in enumerate(args[n_in:]):
        y = yielded[j]
        comb = None if isinstance(y.owner, ir.Block) else y.owner.operation
        others = [v for v in comb.operands if v != acc] if comb is not None else []
        if y not in reads_acc:
            kinds.append(("map", y, None))
        elif (comb is not None and comb.name in COMBINERS and len(others) == 1 and others[0] not in reads_acc
              and len(list(acc.uses)) == 1 and all(u.owner == ops[-1].operation for u in y.uses)):
            kinds.append((COMBINERS[comb.name], others[0], comb))
        elif j in needed:
            raise unsupported(gen, f"output {j} is not a map or an add/max/min/mul reduction", mode)
        else:
            kinds.append(("other", None, None))
    return kinds, [op for op in ops[:-1] if not any(r in reads_acc for r in op.results)]


def domain_extents(gen) -> list:
    """The extent of each loop dimension of a linalg.generic, read off its operands."""
    maps = [a.value for a in gen.indexing_maps]
    extents = [None] * maps[0].n_dims
    for v, m in zip([*gen.inputs, *gen.outputs], maps):
        if isinstance(v.type, ir.RankedTensorType):
            for k, n in zip(map_dims(m), ir.RankedTensorType(v.type).shape):
                extents[k] = n
    return extents


def sum_trailing(v: ir.Value, k: int) -> ir.Value:
    """Sum away the last `k` dims of `v`, one generic (one reduction dim) each."""
    for _ in range(k):
        t = ir.RankedTensorType(v.type)
        r = t.rank
        v = generic([v], [identity_map(r)], [zeros_of(ir.RankedTensorType.get(t.shape[:-1], t.element_type))],
                    [projection_map(r, range(r - 1))], [PARALLEL] * (r - 1) + [REDUCTION],
                    lambda x, acc: arith.addf(acc, x))[0]
    return v


def reduction_count(gen, j, kinds, recompute, result):
    """How many elements (the initial value included) attain output j's max / min:
    a sum over the same domain of (e == result), started at (init == result)."""
    _, args, _, in_maps, out_maps = generic_parts(gen)
    ins, out = list(gen.inputs), gen.outputs[j]
    n_in = len(ins)
    expr = kinds[j][1]
    hit = lambda a, b: S.select(S.cmp("oeq", a, b), S.const(1.0, a), S.const(0.0, a))
    t = ir.RankedTensorType(out.type)
    idm = identity_map(t.rank)
    init = generic([out, result], [idm, idm], [tensor.empty(t.shape, t.element_type)], [idm], [PARALLEL] * t.rank,
                   lambda o, r, _: hit(o, r))[0]

    def body(*bargs):
        mapping = dict(zip(args[:n_in], bargs[:n_in]))
        clone_ops(recompute, mapping)
        return arith.addf(bargs[-1], hit(mapping.get(expr, expr), bargs[n_in]))

    return generic(ins + [result], in_maps + [out_maps[j]], [init], [out_maps[j]], iterator_types(gen), body)[0]
