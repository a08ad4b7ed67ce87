"""Batching (vmap) as an MLIR pass: for @F add @F_batched.

    @F_batched(args with a batch dimension where in_axes says) -> (results with it at out_axes)

The driver builds a new function and walks F's ops in program order, keeping a map
from each old SSA value to its new value and the set of values that carry the batch
dimension. Inside the pass a batched value always carries it at dimension 0 (a
batched scalar becomes a tensor<B x T>): arguments are transposed there on entry and
results moved to their out_axes at the end. An op none of whose operands is batched
is cloned unchanged; any other op is rewritten by the rule for its name. Named linalg
ops are generalized and calls inlined first (as in reverse mode), so one rule covers
every linalg structured op: it adds a leading parallel dimension to the iteration
domain. The pass accepts its own output and the reverse pass's, and emits only ops
the reverse pass differentiates (except gathers: a tensor.extract at batched indices).
"""

from __future__ import annotations

import itertools
import threading
from collections import ChainMap

from .ad import PREPARE, captured_values, clone_op, dtype_of_type, has_function, lookup
from .ad import unsupported as _unsupported
from .ir import (
    PARALLEL,
    REDUCTION,
    IRError,
    arith,
    custom_call,
    dtype_of,
    emit_custom_call,
    func,
    function_type,
    generic,
    identity_map,
    ir,
    is_float,
    is_stop_gradient,
    linalg,
    math,
    projection_map,
    run_pipeline,
    scalar_constant,
    stop_gradient_op,
    tensor,
    verify,
)

DYNAMIC = ir.ShapedType.get_dynamic_stride_or_offset()


def unsupported(op, why: str = "") -> IRError:
    return _unsupported(op, why, "batch")


# --------------------------------------------------------------------------- helpers

def shape_or_scalar(t: ir.Type) -> list[int]:
    """A tensor type's shape, [] for a scalar."""
    return list(ir.RankedTensorType(t).shape) if isinstance(t, ir.RankedTensorType) else []


def batched_type(t: ir.Type, size: int) -> ir.RankedTensorType:
    """tensor<S x T> -> tensor<size x S x T>; a scalar T -> tensor<size x T>."""
    return ir.RankedTensorType.get([size, *shape_or_scalar(t)], dtype_of_type(t))


def shift_map(m: ir.AffineMap) -> ir.AffineMap:
    """(d0, ..., dn-1) -> R(d)  becomes  (d0, ..., dn) -> R(d1, ..., dn): the old dims move up one."""
    shift = ir.AffineMap.get(m.n_dims + 1, 0, [ir.AffineDimExpr.get(k + 1) for k in range(m.n_dims)])
    return ir.AffineMap.get(m.n_dims + 1, 0, [r.compose(shift) for r in m.results])


def batch_map(m: ir.AffineMap) -> ir.AffineMap:
    """shift_map(m) with the new dimension d0 in front: (d0, ..., dn) -> (d0, R(d1, ..., dn))."""
    shifted = shift_map(m)
    return ir.AffineMap.get(shifted.n_dims, 0, [ir.AffineDimExpr.get(0), *shifted.results])


def copy_generic(v: ir.Value, in_map: ir.AffineMap, out_shape) -> ir.Value:
    """A generic over out_shape that reads v through in_map (a broadcast or a transpose)."""
    rank = len(out_shape)
    out = tensor.empty(list(out_shape), dtype_of(v))
    return generic([v], [in_map], [out], [identity_map(rank)], [PARALLEL] * rank, lambda x, _: x)[0]


def move_axis(v: ir.Value, src: int, dst: int) -> ir.Value:
    """Move dimension `src` of tensor v to position `dst` (a transpose generic)."""
    if src == dst:
        return v
    shape = shape_or_scalar(v.type)
    perm = [k for k in range(len(shape)) if k != src]
    perm.insert(dst, src)  # output dimension k is input dimension perm[k]
    return copy_generic(v, projection_map(len(shape), [perm.index(j) for j in range(len(shape))]),
                        [shape[p] for p in perm])


def is_empty(v: ir.Value) -> bool:
    return not isinstance(v.owner, ir.Block) and v.owner.operation.name == "tensor.empty"


# ----------------------------------------------------------------------- the state

class Batch:
    """Old value -> new value, which new values carry the batch at dim 0, and the batch size."""

    def __init__(self, size: int):
        self.size = size
        self.values: dict = {}
        self.batched: set = set()

    def get(self, v: ir.Value) -> ir.Value:
        return self.values.get(v, v)

    def is_batched(self, v: ir.Value) -> bool:
        return v in self.batched

    def set(self, old: ir.Value, new: ir.Value, batched: bool) -> None:
        self.values[old] = new
        if batched:
            self.batched.add(old)

    def moved(self, v: ir.Value) -> ir.Value:
        """v's new value with the batch dimension: broadcast along it if v is unbatched."""
        return self.get(v) if self.is_batched(v) else self.broadcast(self.get(v))

    def broadcast(self, v: ir.Value) -> ir.Value:
        """x -> [x, x, ..., x] along a new leading dimension (a new tensor.empty stays empty)."""
        if is_empty(v):
            return self.empty(v)
        t = batched_type(v.type, self.size)
        return copy_generic(v, projection_map(t.rank, range(1, t.rank)), t.shape)

    def empty(self, v: ir.Value) -> ir.Value:
        """A tensor.empty of v's batched type (for an init the body never reads)."""
        t = batched_type(v.type, self.size)
        return tensor.empty(list(t.shape), t.element_type)

    def index_operands(self, op, values) -> list:
        """New values of an op's dynamic index operands (offsets, indices), which must be unbatched."""
        if any(self.is_batched(v) for v in values):
            raise unsupported(op, "an index depends on a batched value (a gather or scatter)")
        return [self.get(v) for v in values]


# ------------------------------------------------------------ linalg.generic rule

def generic_rule(b: Batch, gen) -> list:
    """Batch a linalg.generic: a new leading parallel dimension d0 over the batch.

    Batched operands read through (d0, R(d1..dn)), unbatched inputs through R(d1..dn)
    (a broadcast along the batch); every output is batched (an unbatched init is
    broadcast, unless it is only written). Batched scalars the body reads from outside
    become inputs read through (d0); a batched tensor the body reads with tensor.extract
    gets linalg.index 0 as its first index. linalg.index k becomes linalg.index k + 1.
    """
    n_in = len(gen.inputs)
    block = gen.regions[0].blocks[0]
    args = list(block.arguments)
    maps = [a.value for a in gen.indexing_maps]
    n_dims = maps[0].n_dims
    ins, in_maps = [], []
    for v, m in zip(gen.inputs, maps[:n_in]):
        ins.append(b.get(v))
        in_maps.append(batch_map(m) if b.is_batched(v) else shift_map(m))
    outside = [v for v in captured_values(gen) if b.is_batched(v)]
    scalars = [v for v in outside if not isinstance(v.type, ir.ShapedType)]
    tensors = set(outside) - set(scalars)
    d0_only = projection_map(n_dims + 1, [0])
    outs = [b.moved(v) if b.is_batched(v) or list(a.uses) else b.empty(v) for v, a in zip(gen.outputs, args[n_in:])]
    out_maps = [batch_map(m) for m in maps[n_in:]]
    iterators = [PARALLEL, *[str(a) for a in gen.iterator_types]]

    def body(*bargs):
        values = dict(zip(args[:n_in], bargs[:n_in]))
        values.update(zip(scalars, bargs[n_in:n_in + len(scalars)]))
        values.update(zip(args[n_in:], bargs[n_in + len(scalars):]))
        ops = list(block.operations)
        for op in ops[:-1]:
            if op.operation.name == "tensor.extract" and op.operands[0] in tensors:
                idx = [linalg.IndexOp(0).result, *[values.get(v, b.get(v)) for v in list(op.operands)[1:]]]
                values[op.results[0]] = tensor.extract(b.get(op.operands[0]), idx)
                continue
            if any(v in tensors for v in [*op.operands, *captured_values(op)]):
                raise unsupported(gen, f"its body reads a batched tensor through '{op.operation.name}'")
            new = clone_op(op, ChainMap(values, b.values), shift_index=1)
            values.update(zip(op.results, new.results))
        return [values.get(v, b.get(v)) for v in ops[-1].operands]

    result_types = [o.type for o in outs]
    return generic(ins + [b.get(v) for v in scalars], in_maps + [d0_only] * len(scalars), outs, out_maps,
                   iterators, body, result_types)


# ------------------------------------------------------------------ tensor op rules

def _static(op, name) -> list[int]:
    return list(ir.DenseI64ArrayAttr(op.attributes[name]))


def extract_slice_rule(b: Batch, op) -> list:
    """x[o:o+s:t] -> xs[:, o:o+s:t] (the whole batch dimension, then the same slice)."""
    t = batched_type(op.results[0].type, b.size)
    return [tensor.extract_slice(t, b.get(op.operands[0]), b.index_operands(op, op.offsets),
                                 b.index_operands(op, op.sizes), b.index_operands(op, op.strides),
                                 [0, *_static(op, "static_offsets")], [b.size, *_static(op, "static_sizes")],
                                 [1, *_static(op, "static_strides")])]


def insert_slice_rule(b: Batch, op) -> list:
    """Insert each example's slice into that example's destination (both batched)."""
    src, dest = op.operands[0], op.operands[1]
    return [tensor.insert_slice(b.moved(src), b.moved(dest), b.index_operands(op, op.offsets),
                                b.index_operands(op, op.sizes), b.index_operands(op, op.strides),
                                [0, *_static(op, "static_offsets")], [b.size, *_static(op, "static_sizes")],
                                [1, *_static(op, "static_strides")])]


def _reassociation(op) -> list[list[int]]:
    return [[ir.IntegerAttr(i).value for i in ir.ArrayAttr(g)] for g in ir.ArrayAttr(op.attributes["reassociation"])]


def _batched_reassociation(op, expanded_rank: int) -> list[list[int]]:
    """[[0]] + each group shifted by one; an empty one (all unit dims) joins the batch group."""
    groups = _reassociation(op)
    if not groups:
        return [list(range(expanded_rank + 1))]
    return [[0], *[[k + 1 for k in g] for g in groups]]


def expand_shape_rule(b: Batch, op) -> list:
    if len(op.operands) > 1:
        raise unsupported(op, "dynamic output shape")
    t = batched_type(op.results[0].type, b.size)
    groups = _batched_reassociation(op, len(shape_or_scalar(op.results[0].type)))
    return [tensor.expand_shape(t, b.get(op.operands[0]), groups, [], list(t.shape))]


def collapse_shape_rule(b: Batch, op) -> list:
    t = batched_type(op.results[0].type, b.size)
    groups = _batched_reassociation(op, len(shape_or_scalar(op.operands[0].type)))
    return [tensor.collapse_shape(t, b.get(op.operands[0]), groups)]


def concat_rule(b: Batch, op) -> list:
    """concat(xs, dim) -> concat(batched xs, dim + 1); unbatched operands are broadcast."""
    dim = ir.IntegerAttr(op.attributes["dim"]).value
    return [tensor.concat(batched_type(op.results[0].type, b.size), dim + 1, [b.moved(v) for v in op.operands])]


def cast_rule(b: Batch, op) -> list:
    return [tensor.cast(batched_type(op.results[0].type, b.size), b.get(op.operands[0]))]


def extract_rule(b: Batch, op) -> list:
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


def insert_rule(b: Batch, op) -> list:
    """x[i, j] = s for a batched x or s: xs[:, i, j] = ss (a rank-reducing insert_slice)."""
    scalar, dest, indices = op.operands[0], op.operands[1], list(op.operands)[2:]
    n = len(indices)
    return [tensor.insert_slice(b.moved(scalar), b.moved(dest), b.index_operands(op, indices), [], [],
                                [0] + [DYNAMIC] * n, [b.size] + [1] * n, [1] * (n + 1))]


def elementwise_rule(b: Batch, op) -> list:
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


def call_rule(b: Batch, op) -> list:
    """After inlining only two kinds of call are left: the stop_gradient marker (the
    marker on the batched tensor) and custom-derivative calls (a call of the batched
    primal carrying the batched rules, built beforehand by batch_custom_rules)."""
    if is_stop_gradient(op):
        return [stop_gradient_op(b.moved(op.operands[0]))]
    c = custom_call(op)
    if c is None:
        raise unsupported(op, "calls are inlined first; this one calls a function without a body")
    primal, rules = b.custom.pop(0)
    operands = [b.moved(v) if b.is_batched(v) else b.get(v) for v in op.operands]
    return emit_custom_call(primal, [batched_type(r.type, b.size) for r in op.results], operands, c.kind, rules,
                            c.sizes)


# ------------------------------------------------------------ custom-derivative calls

_fresh = itertools.count()
# (module, rule, in_axes, out_axes, size) -> the batched rule's name, while it is being
# built: a rule that calls its own function refers to its batched self.
_in_progress = threading.local()


def batched_values(fn, axes) -> set:
    """The values of @fn's body that carry the batch (what batch_op will decide)."""
    block = fn.regions[0].blocks[0]
    batched = {arg for arg, a in zip(block.arguments, axes) if a is not None}
    for op in block.operations:
        if any(v in batched for v in [*op.operands, *captured_values(op)]):
            batched.update(op.results)
    return batched


def batch_custom_rules(module, fn, axes, size) -> list:
    """For each custom-derivative call in @fn that reads a batched value, in program
    order: (batched primal, batched rules). Every result of the batched functions
    carries the batch at 0; a custom_vjp's batched bwd sums the cotangents of the
    arguments that were not batched (wrapped by `sum_unbatched`)."""
    batched = batched_values(fn, axes)
    calls = [(op, c) for op in fn.regions[0].blocks[0].operations
             if (c := custom_call(op)) is not None and any(v in batched for v in op.operands)]
    specs, made = [], []

    def vmap(module, name, in_axes, out_axes, size, new_name):
        # public until the call that uses it exists: the next pipeline run (inline)
        # would erase an unused private function
        key = (id(module), name, tuple(in_axes), out_axes, size)
        if key in _in_progress.__dict__:     # a rule that calls its own function
            return _in_progress.__dict__[key]
        _in_progress.__dict__[key] = new_name
        try:
            made.append(vmap_public(module, name, in_axes, out_axes, size, new_name))
        finally:
            del _in_progress.__dict__[key]
        return made[-1]
    for op, c in calls:
        ax = [0 if v in batched else None for v in op.operands]
        n = c.sizes[0]
        caps, start = [], n
        for k in c.sizes[1:]:
            caps.append(ax[start:start + k])
            start += k
        name = lambda base: f"{base}_b{next(_fresh)}"
        callee = op.attributes["callee"].value
        primal = vmap(module, callee, ax, 0, size, new_name=name(callee))
        if c.kind == "irgrad.custom_vjp":
            fwd = vmap(module, c.rules["fwd"], ax[:n] + caps[1], 0, size, new_name=name(c.rules["fwd"]))
            ftype = function_type(op, c.rules["fwd"])
            n_res = len(ftype.results) - len(op.results)
            n_ct = len(function_type(op, c.rules["bwd"]).inputs) - n_res - len(caps[2])
            bwd = vmap(module, c.rules["bwd"], [0] * (n_res + n_ct) + caps[2], 0, size, new_name=name(c.rules["bwd"]))
            float_args = [i for i in range(n) if is_float(dtype_of_type(op.operands[i].type))]
            bwd = sum_unbatched(module, bwd, [ax[i] is None for i in float_args])
            made.append(bwd)
            specs.append((primal, {"fwd": fwd, "bwd": bwd}))
        else:
            float_args = [i for i in range(n) if is_float(dtype_of_type(op.operands[i].type))]
            jvp = vmap(module, c.rules["jvp"], ax[:n] + [ax[i] for i in float_args] + caps[1], 0, size,
                       new_name=name(c.rules["jvp"]))
            specs.append((primal, {"jvp": jvp}))
    for f in made:
        lookup(module, f).attributes["sym_visibility"] = ir.StringAttr.get("private")
    return specs


def vmap_public(module, name, in_axes, out_axes, size, new_name) -> str:
    new = vmap(module, name, in_axes, out_axes, size, new_name)
    fn = lookup(module, new)
    if "sym_visibility" in fn.attributes:
        del fn.attributes["sym_visibility"]
    return new


def sum_unbatched(module, name: str, summed: list) -> str:
    """@name, or a wrapper of it whose results marked in `summed` are summed over dim 0."""
    if not any(summed):
        return name
    ftype = ir.FunctionType(ir.TypeAttr(lookup(module, name).attributes["function_type"]).value)
    out_types = [ir.RankedTensorType.get(shape_or_scalar(t)[1:], dtype_of_type(t)) if s else t
                 for t, s in zip(ftype.results, summed)]
    new_name = f"{name}_summed"
    with ir.InsertionPoint(module.body), ir.Location.unknown():
        g = func.FuncOp(new_name, (list(ftype.inputs), out_types))
        entry = g.add_entry_block()
        with ir.InsertionPoint(entry):
            results = func.CallOp(list(ftype.results), ir.FlatSymbolRefAttr.get(name), list(entry.arguments)).results
            outs = []
            for r, s, t in zip(results, summed, out_types):
                if not s:
                    outs.append(r)
                    continue
                rank = len(shape_or_scalar(r.type))
                init = linalg.fill(scalar_constant(0.0, dtype_of_type(t)),
                                   outs=[tensor.empty(list(t.shape), dtype_of_type(t))])
                outs.append(generic([r], [identity_map(rank)], [init], [projection_map(rank, range(1, rank))],
                                    [REDUCTION] + [PARALLEL] * (rank - 1), lambda x, acc: arith.addf(x, acc))[0])
            func.ReturnOp(outs)
    return new_name


RULES = {
    "linalg.generic": generic_rule,
    "tensor.extract_slice": extract_slice_rule,
    "tensor.insert_slice": insert_slice_rule,
    "tensor.expand_shape": expand_shape_rule,
    "tensor.collapse_shape": collapse_shape_rule,
    "tensor.concat": concat_rule,
    "tensor.cast": cast_rule,
    "tensor.extract": extract_rule,
    "tensor.insert": insert_rule,
    "func.call": call_rule,
}
# Every arith and math op is elementwise (arith.constant has no operands, so it is never batched).
for _dialect in (arith, math):
    for _cls in vars(_dialect).values():
        if isinstance(getattr(_cls, "OPERATION_NAME", None), str):
            RULES.setdefault(_cls.OPERATION_NAME, elementwise_rule)


# ----------------------------------------------------------------------- the driver

def normalize_axis(axis: int, rank: int, what: str) -> int:
    """An axis into a batched value of rank `rank` (negative counts from the end)."""
    if not -rank <= axis < rank:
        raise IRError(f"irgrad vmap: {what} {axis} is out of range for a batched rank of {rank}")
    return axis % rank


def batched_args(ftype: ir.FunctionType, in_axes, axis_size) -> tuple[list, list]:
    """Normalized in_axes and the batched function's argument types: each batched
    argument's type with `axis_size` inserted at its axis (a scalar becomes a tensor)."""
    if len(in_axes) != len(ftype.inputs):
        raise IRError(f"irgrad vmap: in_axes has {len(in_axes)} entries for {len(ftype.inputs)} arguments")
    if axis_size is None:
        raise IRError("irgrad vmap: axis_size is required (the function's arguments are one example's)")
    axes, types = [], []
    for t, a in zip(ftype.inputs, in_axes):
        if a is None:
            axes.append(None)
            types.append(t)
            continue
        shape = shape_or_scalar(t)
        a = normalize_axis(a, len(shape) + 1, "in_axes entry")
        shape.insert(a, axis_size)
        axes.append(a)
        types.append(ir.RankedTensorType.get(shape, dtype_of_type(t)))
    return axes, types


def out_axes_list(out_axes, n_res: int) -> list:
    if isinstance(out_axes, (list, tuple)):
        if len(out_axes) != n_res:
            raise IRError(f"irgrad vmap: out_axes has {len(out_axes)} entries for {n_res} results")
        return list(out_axes)
    return [out_axes] * n_res


def finish(b: Batch, v: ir.Value, axis, k: int) -> ir.Value:
    """Result k with the batch dimension at `axis` (None: an unbatched result)."""
    if axis is None:
        if b.is_batched(v):
            raise IRError(f"irgrad vmap: out_axes is None for result {k}, but it depends on a batched argument")
        return b.get(v)
    new = b.moved(v)
    return move_axis(new, 0, normalize_axis(axis, len(shape_or_scalar(new.type)), "out_axes entry"))


def vmap(module: ir.Module, name: str, in_axes, out_axes=0, axis_size=None, new_name=None) -> str:
    """Add @{name}_batched (or @new_name) to `module` and return its name.

    `in_axes`: per argument, the dimension that holds the batch (negative counts from
    the end) or None (shared by every example); `out_axes`: an int or None, or one per
    result; `axis_size`: the batch size (required: @name's arguments are one example's).

    >>> from irgrad.passes.ir import building
    >>> with building():
    ...     m = ir.Module.parse("func.func @sq(%x: f32) -> f32 { %y = arith.mulf %x, %x : f32  return %y : f32 }")
    ...     vmap(m, "sq", [0], axis_size=8)       # @sq_batched(tensor<8xf32>) -> tensor<8xf32>
    'sq_batched'
    """
    run_pipeline(module, PREPARE, f"{name}-prepare")
    fn = lookup(module, name)
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    axes, inputs = batched_args(ftype, list(in_axes), axis_size)
    new_name = new_name or f"{name}_batched"
    if has_function(module, new_name):
        raise IRError(f"irgrad vmap: the module already has a function @{new_name}")
    custom = batch_custom_rules(module, fn, axes, axis_size)
    if custom:      # (batching the rules ran the pipeline again)
        fn = lookup(module, name)
    b = Batch(axis_size)
    b.custom = custom
    with ir.InsertionPoint(module.body):
        g = func.FuncOp(new_name, (inputs, []))
    if "sym_visibility" in fn.attributes:
        g.attributes["sym_visibility"] = fn.attributes["sym_visibility"]
    try:
        results = batch_body(b, fn, g, axes, out_axes)
    except Exception:
        g.operation.erase()  # leave the module as it was
        raise
    g.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, [r.type for r in results]))
    verify(module, f"{name}-vmap")
    return new_name


def batch_body(b: Batch, fn, g, axes, out_axes) -> list:
    """Fill @g's body with @fn's ops, batched; return the values @g returns."""
    block = fn.regions[0].blocks[0]
    entry = g.add_entry_block()
    with ir.InsertionPoint(entry):
        for old, new, a in zip(block.arguments, entry.arguments, axes):
            b.set(old, new if a is None else move_axis(new, a, 0), a is not None)
        ops = list(block.operations)
        for op in ops[:-1]:
            batch_op(b, op)
        ret = ops[-1]
        with ret.location:
            results = [finish(b, v, a, k) for k, (v, a) in
                       enumerate(zip(ret.operands, out_axes_list(out_axes, len(ret.operands))))]
            func.ReturnOp(results)
    return results


def batch_op(b: Batch, op) -> None:
    """Clone an op that reads no batched value; rewrite any other with its rule."""
    if not any(b.is_batched(v) for v in [*op.operands, *captured_values(op)]):
        new = clone_op(op, b.values)
        for old, r in zip(op.results, new.results):
            b.set(old, r, False)
        return
    rule = RULES.get(op.operation.name)
    if rule is None:
        raise unsupported(op)
    with op.location:
        new = rule(b, op)
    for old, r in zip(op.results, new):
        b.set(old, r, True)
