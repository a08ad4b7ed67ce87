"""Calls. After inlining only markers are left: custom-derivative calls (their rules
are called instead of differentiating the primal) and stop_gradient (inactive in both
AD modes, mapped through by batching). A call of a function without a body is refused.

Reverse mode: custom_vjp calls @fwd then @bwd; custom_jvp calls the transpose of its
jvp rule (made by `transpose_custom_jvps` before the walk). Forward mode: custom_jvp
calls @jvp; custom_vjp is refused, as in JAX. Batching: a call of the batched primal
carrying batched rules (made by `batch_custom_rules` before the walk).
"""

from __future__ import annotations

import itertools
import threading

from ..ad import captured_values, dtype_of_type, has_function, lookup, or_zeros, read_operands, unsupported, zeros_like
from ..batch_core import Batch, batched_type, shape_or_scalar
from ..ir import (
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
    plain_call,
    projection_map,
    scalar_constant,
    stop_gradient_op,
    tensor,
)
from .registry import rule

# --------------------------------------------------------------------------- reverse

def call_reverse(ctx, op, dres):
    """A custom_vjp call: a call of @fwd replaces the primal call (its outputs and the
    residuals), and @bwd maps the results' cotangents to the arguments'. A custom_jvp
    call: the transpose of its jvp rule, @jvp_vjp (added by transpose_custom_jvps),
    taken at zero tangents (the rule is linear in them)."""
    c = custom_call(op)
    if c is None:
        raise unsupported(op, "calls are inlined first; this one calls a function without a body")
    float_res = [j for j, r in enumerate(op.results) if is_float(dtype_of(r))]
    cts = [dres[j] if dres[j] is not None else zeros_like(op.results[j]) for j in float_res]
    float_args = [i for i, a in enumerate(c.args) if is_float(dtype_of(a))]
    if c.kind == "irgrad.custom_vjp":
        outs = plain_call(op, c.rules["fwd"], c.args + c.captures[1], function_type(op, c.rules["fwd"]).results)
        n_out = len(op.results)
        for old, new in zip(op.results, outs[:n_out]):
            old.replace_all_uses_with(new)
        ctx.dead.append(op)
        bwd = c.rules["bwd"]
        grads = func.CallOp(function_type(op, bwd).results, ir.FlatSymbolRefAttr.get(bwd),
                            outs[n_out:] + cts + c.captures[2]).results
    else:
        t = c.rules["transpose"]
        zeros = [zeros_like(c.args[i]) for i in float_args]
        results = func.CallOp(function_type(op, t).results, ir.FlatSymbolRefAttr.get(t),
                              c.args + zeros + c.captures[1] + cts).results
        grads = list(results)[-len(float_args):] if float_args else []
    it = iter(grads)
    return [next(it) if i in float_args else None for i in range(len(c.args))] + \
        [None] * (len(op.operands) - len(c.args))


def transpose_custom_jvps(module, fn, wrt, vjp) -> bool:
    """Before a reverse walk: give each custom_jvp call in @fn that depends on a `wrt`
    argument its rule's transpose (`vjp`, the reverse pass, on @jvp w.r.t. the
    tangents; made once per rule). True if any was added. (A rule that calls its own function does so
    on primals, which its transpose does not differentiate: no endless recursion.)"""
    args = list(fn.entry_block.arguments)
    depends = set(args if wrt is None else [args[i] for i in wrt])
    added = False
    for op in list(fn.entry_block.operations):
        if any(v in depends for v in read_operands(op)):
            depends.update(op.results)
        c = custom_call(op)
        if c is None or c.kind != "irgrad.custom_jvp" or "transpose" in c.rules or \
                not any(a in depends for a in c.args):
            continue
        jvp_name = c.rules["jvp"]
        float_args = [i for i, a in enumerate(c.args) if is_float(dtype_of(a))]
        n_in = len(function_type(op, jvp_name).inputs)
        n_out = len(op.results)
        n_touts = len(function_type(op, jvp_name).results) - n_out
        wrt = [len(c.args) + k for k in range(len(float_args))]
        name = f"{jvp_name}_transpose"
        if not has_function(module, name):
            vjp(module, jvp_name, wrt=wrt, seeds=list(range(n_out, n_out + n_touts)), new_name=name)
        assert n_in == len(c.args) + len(float_args) + c.sizes[2]
        rule = op.attributes[c.kind]
        entries = {rule[i].name: rule[i].attr for i in range(len(rule))}
        entries["transpose"] = ir.FlatSymbolRefAttr.get(name)
        op.attributes[c.kind] = ir.DictAttr.get(entries)
        added = True
    return added


# --------------------------------------------------------------------------- forward

def call_forward(ctx, op, ts):
    """A custom_jvp call: its rule @jvp gives the results' tangents. JAX has no forward
    mode for custom_vjp functions, and neither has irgrad."""
    c = custom_call(op)
    if c is None:
        raise unsupported(op, "calls are inlined first; this one calls a function without a body", "forward")
    if c.kind == "irgrad.custom_vjp":
        raise IRError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")
    float_args = [i for i, a in enumerate(c.args) if is_float(dtype_of_type(a.type))]
    tans = [or_zeros(ts[i], c.args[i]) for i in float_args]
    name = c.rules["jvp"]
    results = func.CallOp(function_type(op, name).results, ir.FlatSymbolRefAttr.get(name),
                          c.args + tans + c.captures[1]).results
    touts = iter(list(results)[len(op.results):])
    return [next(touts) if is_float(dtype_of_type(r.type)) else None for r in op.results]


# --------------------------------------------------------------------------- batching

def call_batch(b: Batch, op) -> list:
    """After inlining only two kinds of call are left: the stop_gradient marker (the
    marker on the batched tensor) and custom-derivative calls (a call of the batched
    primal carrying the batched rules, built beforehand by batch_custom_rules)."""
    if is_stop_gradient(op):
        return [stop_gradient_op(b.moved(op.operands[0]))]
    c = custom_call(op)
    if c is None:
        raise unsupported(op, "calls are inlined first; this one calls a function without a body", "batch")
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


def batch_custom_rules(module, fn, axes, size, vmap_pass) -> list:
    """For each custom-derivative call in @fn that reads a batched value, in program
    order: (batched primal, batched rules). Every result of the batched functions
    carries the batch at 0; a custom_vjp's batched bwd sums the cotangents of the
    arguments that were not batched (wrapped by `sum_unbatched`). `vmap_pass` is the
    batching pass (batching.vmap)."""
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
            made.append(vmap_public(vmap_pass, module, name, in_axes, out_axes, size, new_name))
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


def vmap_public(vmap_pass, module, name, in_axes, out_axes, size, new_name) -> str:
    new = vmap_pass(module, name, in_axes, out_axes, size, new_name)
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


rule("func.call", reverse=call_reverse, forward=call_forward, batch=call_batch)
