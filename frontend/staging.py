"""Staging: a Python function traced into a module of its own, and a call to it.

Every transformation stages the same way. `flatten_fun` turns the user's function
into one over flat leaves that records its output's pytree; `trace` traces that
into a fresh module (a pass may then add a derived function there, e.g. @f_vjp);
`emit_call` copies the function, and the functions it calls, into the enclosing
trace's module and calls it there. At top level the traced function is compiled
instead (api.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from irgrad.passes import ad
from irgrad.passes.ir import func, ir
from irgrad.runtime import compiler

from . import tree_util
from .array import Array
from .core import Tracer, concrete_value, trace_function, trace_stack

# ------------------------------------------------------------------------- stats


@dataclass
class Stats:
    """Counters for tests and tuning: `irgrad.frontend.api.stats`.

    traces: Python functions traced into MLIR (top-level and nested);
    compiles: executables built for a top-level signature (IREE, or its IR-text cache);
    calls: compiled calls run. `iree_compiles` counts real IREE compilations.
    """

    traces: int = 0
    compiles: int = 0
    calls: int = 0

    @property
    def iree_compiles(self) -> int:
        return compiler.stats["compiles"]

    def snapshot(self) -> dict:
        return {"traces": self.traces, "compiles": self.compiles, "calls": self.calls,
                "iree_compiles": self.iree_compiles}


stats = Stats()


def trace(fun, avals, **kw):
    """`core.trace_function`, counted in `stats.traces`."""
    stats.traces += 1
    return trace_function(fun, avals, **kw)


# --------------------------------------------------------------- user functions


def fun_name(fun) -> str:
    """The name a function is traced (and reported) under."""
    return getattr(fun, "__name__", None) or type(fun).__name__


def fun_key(fun):
    """What a transformed function is cached by: grad/jit wrappers by what they wrap, so
    `grad(grad(f))` written out twice hits the same cache entry."""
    return getattr(fun, "_irgrad_key", fun)


def wrap_transformed(transformed, fun, key):
    """Give a transformation's function `fun`'s name and docs, and the cache key that
    `fun_key` reads when it is transformed again."""
    try:
        functools.update_wrapper(transformed, fun)
    except (AttributeError, TypeError):
        pass
    transformed.__wrapped__ = fun
    transformed._irgrad_key = key
    return transformed


_SCALARS = (int, float, bool, np.generic)


def is_array_leaf(x) -> bool:
    """Whether a pytree leaf is a value JAX traces: an array, a tracer or a number."""
    return isinstance(x, (Array, Tracer, np.ndarray, *_SCALARS)) and not isinstance(x, (str, bytes, np.str_))


def check_outputs(leaves, who: str) -> None:
    """JAX's TypeError for an output leaf that is not an array, e.g. `who` = "function f
    traced for jit"."""
    for i, x in enumerate(leaves):
        if not is_array_leaf(x):
            raise TypeError(f"{who} returned a value of type {type(x)} at output component [{i}], which is not a "
                            "valid JAX type")


def split_aux(out, has_aux: bool):
    """(output, aux) of a function's result; aux None unless `has_aux`, with JAX's error
    when a has_aux function does not return a pair."""
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise TypeError("expected function with aux output to return a two-element tuple, but got type "
                        f"{type(out)} with value {out!r}")
    return out[0], out[1]


@dataclass
class OutTrees:
    """What a flattened function recorded on its last run: the output's and aux's pytrees,
    and how many of its flat results are the output's (the rest are aux's)."""

    out: tree_util.PyTreeDef | None = None
    aux: tree_util.PyTreeDef | None = None
    n_out: int = 0

    def unflatten(self, results):
        """(output, aux) from the flat results of a call of the traced function."""
        out = tree_util.tree_unflatten(self.out, results[:self.n_out])
        return out, tree_util.tree_unflatten(self.aux, results[self.n_out:])


def flatten_fun(fun, who: str, has_aux: bool = False, check_out=None):
    """(flat, trees): `flat(*args)` calls `fun(*args)` and returns the output's leaves then
    aux's; `trees` (OutTrees) holds their pytrees once `flat` has run.

    `check_out(output)` runs on the output before it is flattened; `who` names the
    function in errors ("the function f for jvp").

    >>> flat, trees = flatten_fun(lambda x: {"y": x}, "f")
    >>> flat(1.0), trees.out
    ([1.0], PyTreeDef({'y': *}))
    """
    trees = OutTrees()

    def flat(*args):
        out, aux = split_aux(fun(*args), has_aux)
        if check_out is not None:
            check_out(out)
        out_leaves, trees.out = tree_util.tree_flatten(out)
        aux_leaves, trees.aux = tree_util.tree_flatten(aux)
        trees.n_out = len(out_leaves)
        check_outputs([*out_leaves, *aux_leaves], who)
        return [*out_leaves, *aux_leaves]
    return flat, trees


def concrete_args(leaves, avals):
    """The NumPy values that ride along a nested trace (None per leaf without one), or None
    when the enclosing trace keeps no values."""
    if not trace_stack() or not trace_stack()[-1].track_concrete:
        return None
    values = [concrete_value(x) for x in leaves]
    return [None if v is None else np.asarray(v, av.dtype) for v, av in zip(values, avals)]


# ---------------------------------------------------------------- module surgery


def symbols(op) -> set:
    """Names of the functions `op` refers to (calls, or symbol attributes at any depth)."""
    names = set()

    def visit_attr(a):
        if isinstance(a, ir.FlatSymbolRefAttr):
            names.add(a.value)
        elif isinstance(a, ir.DictAttr):       # a custom-derivative call's rules
            for i in range(len(a)):
                visit_attr(a[i].attr)

    def visit(o):
        for key in o.attributes:
            visit_attr(o.attributes[key])
        for region in o.regions:
            for block in region.blocks:
                for inner in block.operations:
                    visit(inner.operation)
    visit(op.operation)
    return names


def copy_function(src: ir.Module, name: str, dst: ir.Module) -> None:
    """Copy @name and the functions it refers to from `src` into `dst` (private), skipping
    names `dst` already has (function names are unique per process: core.fresh_name)."""
    have = {ir.StringAttr(op.attributes["sym_name"]).value for op in dst.body.operations
            if "sym_name" in op.attributes}
    todo = [name]
    while todo:
        n = todo.pop()
        if n in have:
            continue
        have.add(n)
        with ir.InsertionPoint.at_block_begin(dst.body):
            copy = ad.lookup(src, n).operation.clone()
        copy.attributes["sym_visibility"] = ir.StringAttr.get("private")
        todo.extend(symbols(copy))


def function_type(module: ir.Module, name: str) -> ir.FunctionType:
    """@name's function type."""
    return ir.FunctionType(ir.TypeAttr(ad.lookup(module, name).attributes["function_type"]).value)


def emit_call(module: ir.Module, name: str, args, arg_avals, out_avals) -> list:
    """Inside the current trace: copy @name (and what it calls) out of `module` and call
    it on `args`; its results as tracers."""
    trace_ = trace_stack()[-1]
    values = [trace_.lift(a, av) for a, av in zip(args, arg_avals)]

    def build():
        copy_function(module, name, trace_.module)
        results = list(function_type(module, name).results)
        return func.CallOp(results, ir.FlatSymbolRefAttr.get(name), values).results

    results = trace_.emit(build)
    return [Tracer(trace_, r, av) for r, av in zip(results, out_avals)]


def call_traced(traced, args, out_avals=None) -> list:
    """emit_call of a Traced function on `args` and its captures."""
    return emit_call(traced.module, traced.name, [*args, *traced.captures], [*traced.in_avals, *traced.capture_avals],
                     traced.out_avals if out_avals is None else out_avals)
