"""Batching (vmap) as an MLIR pass: for @F add @F_batched.

    @F_batched(args with a batch dimension where in_axes says) -> (results with it at out_axes)

The driver builds a new function and walks F's ops in program order, keeping a map
from each old SSA value to its new value and the set of values that carry the batch
dimension. Inside the pass a batched value always carries it at dimension 0 (a
batched scalar becomes a tensor<B x T>): arguments are transposed there on entry and
results moved to their out_axes at the end. An op none of whose operands is batched
is cloned unchanged; any other op is rewritten by the rule for its name (rules/). Named linalg
ops are generalized and calls inlined first (as in reverse mode), so one rule covers
every linalg structured op: it adds a leading parallel dimension to the iteration
domain. The pass accepts its own output and the reverse pass's, and emits only ops
the reverse pass differentiates (except gathers: a tensor.extract at batched indices).
"""

from __future__ import annotations

from .ad import PREPARE, captured_values, clone_op, dtype_of_type, has_function, lookup
from .batch_core import Batch, move_axis, shape_or_scalar, sink_index_casts
from .ir import IRError, func, ir, run_pipeline, verify
from .rules import rule_for
from .rules.calls import batch_custom_rules


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
    custom = batch_custom_rules(module, fn, axes, axis_size, vmap)
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
    sink_index_casts(g)
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
    rule = rule_for(op, "batch")
    with op.location:
        new = rule(b, op)
    for old, r in zip(op.results, new):
        b.set(old, r, True)
