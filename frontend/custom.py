"""custom_vjp and custom_jvp: functions whose derivative rules the passes call.

Under a trace, a call of such a function traces the primal and the rules into
functions of their own and emits one call of the primal that carries the rules
(passes/ir.py describes the IR): the reverse pass calls fwd / bwd instead of
differentiating the primal, the forward pass calls the jvp rule, the batching pass
batches all of them, and before IREE the call becomes a plain call of the primal.
Outside any transformation the primal simply runs.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading

import numpy as np
from irgrad.passes.ir import emit_custom_call, emit_self_call, resolve_self_calls

from . import dtypes, tree_util
from .core import Tracer, UnexpectedTracerError, aval_of, trace_stack, user_location
from .staging import concrete_args, copy_function, flatten_fun, fun_name, function_type, trace
from .transforms import float0

_tracing_rules = threading.local()


class _RuleFrame:
    """f's rules being traced for one call. A call of f inside them (a rule calling the
    function it differentiates, as JAX examples do) must not trace the rules again: with
    the same arguments, directly in the rule (not under a further transformation), it
    becomes a call that gets these rules once they are traced (`emit_self_call`), as JAX
    keeps f's rule on the f(x) a fwd rule returns; otherwise it runs f's primal."""

    def __init__(self, f, split, primal, out_tree, captures):
        self.f, self.split, self.primal, self.out_tree = f, split, primal, out_tree
        self.captures = captures      # per trace (primal, rules...): what a self call passes
        self.depth = len(trace_stack()) + 1       # the rules' traces
        self.used = False

    def matches(self, split) -> bool:
        same = lambda a, b: [(v.shape, v.dtype) for v in a.avals] == [(v.shape, v.dtype) for v in b.avals]
        return (len(trace_stack()) == self.depth and split.tree == self.split.tree
                and same(split, self.split) and len(split.nondiff) == len(self.split.nondiff)
                and all(a is b for a, b in zip(split.nondiff_values(), self.split.nondiff_values())))


@contextlib.contextmanager
def _rules_of(f, split, primal, out_tree, captures):
    frames = _tracing_rules.__dict__.setdefault("frames", [])
    frames.append(_RuleFrame(f, split, primal, out_tree, captures))
    try:
        yield frames[-1]
    finally:
        frames.pop()


def _check_captures(name, traces) -> None:
    """JAX's error for a custom function (or rule) closing over a value that is being
    differentiated: the passes give captured values no derivative, so it would be lost."""
    for t in traces:
        for c in t.captures:
            if isinstance(c, Tracer) and c.trace.is_active(c):
                raise UnexpectedTracerError(
                    f"Encountered an unexpected tracer: the custom-derivative function {name} (or one of its "
                    f"rules) closes over {c!r}, a value being differentiated. Pass it as an argument instead "
                    f"(at {user_location()}).")


def _captured(traced) -> list:
    return list(zip(traced.captures, traced.capture_avals))


def _own_rule(f):
    """The innermost frame tracing f's rules, or None."""
    return next((fr for fr in reversed(getattr(_tracing_rules, "frames", [])) if fr.f is f), None)


def _self_call(frame, split):
    outer = trace_stack()[-1]
    values = [outer.lift(x, av) for x, av in zip(split.leaves, split.avals)]
    values += [outer.lift(x, av) for caps in frame.captures for x, av in caps]
    primal = frame.primal

    def build():
        from irgrad.passes.ir import tensor_type
        copy_function(primal.module, primal.name, outer.module)
        n_primal = len(function_type(outer.module, primal.name).inputs)
        _extend_args(outer.module, primal.name, [v.type for v in values[n_primal:]])
        return emit_self_call(primal.name, [tensor_type(av.shape, av.dtype) for av in primal.out_avals], values)
    frame.used = True
    results = outer.emit(build)
    return tree_util.tree_unflatten(frame.out_tree, [Tracer(outer, r, av) for r, av in zip(results, primal.out_avals)])


def _resolve(fun, args, kwargs):
    """Keyword arguments bound to positions, as JAX's custom_vjp / custom_jvp do."""
    if not kwargs:
        return tuple(args)
    sig = inspect.signature(fun)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return tuple(bound.args) + tuple(bound.kwargs.values())


class _Split:
    """A call's arguments split into differentiated ones (traced leaves) and nondiff ones."""

    def __init__(self, args, nondiff_argnums):
        n = len(args)
        self.args = args
        self.nondiff = sorted({i % n for i in nondiff_argnums})
        self.diff = [i for i in range(n) if i not in self.nondiff]
        self.leaves, self.tree = tree_util.tree_flatten(tuple(args[i] for i in self.diff))
        self.avals = [aval_of(x) for x in self.leaves]
        self.floats = [k for k, av in enumerate(self.avals) if dtypes.is_float(av.dtype)]

    def full(self, leaves):
        full = list(self.args)
        for i, d in zip(self.diff, tree_util.tree_unflatten(self.tree, leaves)):
            full[i] = d
        return full

    def nondiff_values(self):
        return [self.args[i] for i in self.nondiff]

    def concrete(self):
        values = concrete_args(self.leaves, self.avals)
        return None if values is None or any(v is None for v in values) else values


def _add_unused_args(traced, avals_lists):
    """Give the primal's function extra (unused) arguments for the rules' captures."""
    from irgrad.passes.ir import building, tensor_type
    with building():
        _extend_args(traced.module, traced.name, [tensor_type(av.shape, av.dtype) for avs in avals_lists for av in avs])


def _extend_args(module, name, types):
    """Append unused arguments of `types` to @name in `module`."""
    from irgrad.passes import ad
    from irgrad.passes.ir import ir
    if types:
        fn = ad.lookup(module, name)
        block = fn.regions[0].blocks[0]
        for t in types:
            block.add_argument(t, ir.Location.unknown())
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        fn.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get([a.type for a in block.arguments], list(ftype.results)))


def _emit(kind, split, primal, rules, traces, out_tree, self_calls=False):
    """Emit the custom call in the current trace; the outputs as a pytree of tracers."""
    outer = trace_stack()[-1]
    operands = [*split.leaves, *[c for t in traces for c in t.captures]]
    avals = [*split.avals, *[a for t in traces for a in t.capture_avals]]
    values = [outer.lift(x, av) for x, av in zip(operands, avals)]
    _add_unused_args(primal, [t.capture_avals for t in traces[1:]])

    def build():
        from irgrad.passes.ir import tensor_type
        for t in traces:
            copy_function(t.module, t.name, outer.module)
        types = [tensor_type(av.shape, av.dtype) for av in primal.out_avals]
        names = {k: t.name for k, t in rules.items()}
        sizes = [len(split.leaves), *[len(t.captures) for t in traces]]
        if self_calls:
            resolve_self_calls(outer.module, set(names.values()), kind, names, sizes)
        return emit_custom_call(primal.name, types, values, kind, names, sizes)

    results = outer.emit(build)
    return tree_util.tree_unflatten(out_tree, [Tracer(outer, r, av) for r, av in zip(results, primal.out_avals)])


def _trace_primal(fun, split, name):
    flat, trees = flatten_fun(lambda *t: fun(*split.full(t)), f"custom function {name}")
    traced = trace(flat, split.avals, name=name, concrete_args=split.concrete(),
                   label=f"the custom-derivative function {name}")
    return traced, trees.out


def _check_same_outputs(rule, name, got, want):
    for g, w in zip(got, want):
        if g.shape != w.shape or g.dtype != w.dtype:
            raise TypeError(f"Custom {rule} rule {name} must produce primal outputs with the same shapes and dtypes as "
                            f"the primal function: got {g.str_short()}, expected {w.str_short()}")


class _CustomFunction:
    """What custom_vjp and custom_jvp share: the primal runs as it is outside any
    transformation (and inside its own rules); under a trace, the primal and the rules
    (`_trace_rules`) are traced and one custom call is emitted."""

    kind = None          # the call's attribute: "irgrad.custom_vjp" / "irgrad.custom_jvp"

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        name = fun_name(self.fun)
        self._check_defined(name)
        args = _resolve(self.fun, args, kwargs)
        if not trace_stack():
            return self.fun(*args)
        split = _Split(args, self.nondiff_argnums)
        frame = _own_rule(self)
        if frame is not None:
            if frame.matches(split):
                return _self_call(frame, split)
            return self.fun(*args)
        primal, out_tree = _trace_primal(self.fun, split, name)
        rules, used = self._trace_rules_with_self_calls(split, name, out_tree, primal)
        _check_captures(name, [primal, *rules.values()])
        return _emit(self.kind, split, primal, rules, [primal, *rules.values()], out_tree, used)

    def _trace_rules_with_self_calls(self, split, name, out_tree, primal):
        """The rules, and whether they call f. A self call passes every trace's captures
        (the custom call's layout), which are known only once the rules are traced, and
        which it adds to its own rule's: trace again until they stay the same."""
        captures = [_captured(primal)]
        for _ in range(4):
            with _rules_of(self, split, primal, out_tree, captures) as frame:
                rules = self._trace_rules(split, name, out_tree, primal)
            now = [_captured(primal), *[_captured(t) for t in rules.values()]]
            if not frame.used or [[id(x) for x, _ in c] for c in now] == [[id(x) for x, _ in c] for c in captures]:
                return rules, frame.used
            captures = now
        raise NotImplementedError(f"custom function {name}: its rules call it and capture values that do not settle")


class custom_vjp(_CustomFunction):
    """A function with a custom reverse-mode rule, as jax.custom_vjp.

    >>> import irgrad, irgrad.numpy as jnp
    >>> @custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (jnp.clip(g, -1.0, 1.0),))
    >>> float(irgrad.grad(lambda x: 3.0 * clip_gradient(x))(2.0))
    1.0
    """

    kind = "irgrad.custom_vjp"
    fwd = bwd = None

    def defvjp(self, fwd, bwd, symbolic_zeros=False, optimize_remat=False):
        """Set the rules: fwd(*args) -> (out, residuals); bwd(*nondiff_args, residuals, g)
        -> one cotangent (or None) per differentiated argument."""
        self.fwd, self.bwd = fwd, bwd

    def _check_defined(self, name):
        if self.fwd is None:
            raise AttributeError(f"No VJP defined for custom_vjp function {name} using defvjp.")

    def _trace_rules(self, split, name, out_tree, primal):
        fwd, res_tree = self._trace_fwd(split, name, out_tree, primal)
        return {"fwd": fwd, "bwd": self._trace_bwd(split, name, out_tree, primal, fwd, res_tree)}

    def _trace_fwd(self, split, name, out_tree, primal):
        who = f"Custom VJP fwd rule {fun_name(self.fwd)} for function {name}"

        def fwd(*tracers):
            r = self.fwd(*split.full(tracers))
            if not (isinstance(r, tuple | list) and len(r) == 2):
                raise TypeError(f"{who} must produce a pair (list or tuple of length two) representing primal "
                                "outputs and residuals (values stored from the forward pass for use on the backward "
                                f"pass), got {type(r).__name__}.")
            return r

        def check_out(out):
            tree = tree_util.tree_structure(out)
            if tree != out_tree:
                raise TypeError(f"{who} must produce a pair (list or tuple of length two) where the first element "
                                "represents the primal output (equal in value to the output of the custom_vjp-"
                                f"decorated function {name}, and in particular of the same container/pytree "
                                "structure), but instead the fwd rule output's first element had container/pytree "
                                f"structure:\n    {tree}\nwhile the custom_vjp-decorated function {name} had output "
                                f"container/pytree structure:\n    {out_tree}.")
        flat, trees = flatten_fun(fwd, who, has_aux=True, check_out=check_out)
        traced = trace(flat, split.avals, name=f"{name}_fwd", concrete_args=split.concrete(),
                       label=f"the custom_vjp fwd rule of {name}")
        _check_same_outputs("VJP fwd", name, traced.out_avals[:len(primal.out_avals)], primal.out_avals)
        return traced, trees.aux

    def _trace_bwd(self, split, name, out_tree, primal, fwd, res_tree):
        n_out = len(primal.out_avals)
        res_avals = fwd.out_avals[n_out:]
        float_outs = [j for j, av in enumerate(primal.out_avals) if dtypes.is_float(av.dtype)]
        diff_args = [split.args[i] for i in split.diff]

        def flat(*tracers):
            import irgrad.numpy as jnp
            res = tree_util.tree_unflatten(res_tree, tracers[:len(res_avals)])
            cts = iter(tracers[len(res_avals):])
            ct_leaves = [next(cts) if j in float_outs else np.zeros(av.shape, float0)
                         for j, av in enumerate(primal.out_avals)]
            grads = self.bwd(*split.nondiff_values(), res, tree_util.tree_unflatten(out_tree, ct_leaves))
            if not isinstance(grads, tuple | list) or len(grads) != len(diff_args):
                got = len(grads) if isinstance(grads, tuple | list) else type(grads).__name__
                raise TypeError(f"Custom VJP bwd rule must produce a tuple of length equal to the number of "
                                f"arguments to the primal function, but got bwd output {got} for "
                                f"{len(diff_args)} arguments (function {name}).")
            out = []
            for g, a in zip(grads, diff_args):
                a_leaves = tree_util.tree_leaves(a)
                g_leaves = ([None] * len(a_leaves) if g is None
                            else tree_util.tree_leaves(g, is_leaf=lambda x: x is None))
                if len(g_leaves) != len(a_leaves):
                    raise TypeError(f"Custom VJP bwd rule of {name} must produce an output with the same container "
                                    f"(pytree) structure as the args tuple of the primal function: got {g!r} for "
                                    f"an argument with {len(a_leaves)} leaves")
                for gl, al in zip(g_leaves, a_leaves):
                    av = aval_of(al)
                    if not dtypes.is_float(av.dtype):
                        continue
                    if gl is None or getattr(gl, "dtype", None) == float0:
                        gl = jnp.zeros(av.shape, av.dtype)
                    if tuple(aval_of(gl).shape) != av.shape:
                        raise ValueError(f"Custom VJP bwd rule of {name} must produce an output with the same shape/"
                                         f"dtypes as the args tuple of the primal function, but got a cotangent of "
                                         f"shape {aval_of(gl).shape} for an argument of shape {av.shape}")
                    out.append(jnp.asarray(gl, av.dtype))
            return out
        return trace(flat, [*res_avals, *[primal.out_avals[j] for j in float_outs]], name=f"{name}_bwd",
                      label=f"the custom_vjp bwd rule of {name}")


class custom_jvp(_CustomFunction):
    """A function with a custom forward-mode rule, as jax.custom_jvp; reverse mode
    transposes the rule.

    >>> import irgrad, irgrad.numpy as jnp
    >>> @custom_jvp
    ... def f(x):
    ...     return jnp.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return f(x), 2.0 * t
    >>> float(irgrad.grad(f)(0.3))
    2.0
    """

    kind = "irgrad.custom_jvp"
    jvp = None

    def defjvp(self, jvp, symbolic_zeros=False):
        """Set the rule: jvp(*nondiff_args, primals, tangents) -> (primal_out, tangent_out)."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps):
        """One rule per argument: jvps[i](t_i, primal_out, *primals) -> its tangent contribution."""
        def jvp(primals, tangents):
            out = self.fun(*primals)
            terms = [f(t, out, *primals) for f, t in zip(jvps, tangents) if f is not None]
            return out, functools.reduce(lambda a, b: tree_util.tree_map(lambda x, y: x + y, a, b), terms)
        self.defjvp(jvp)

    def _check_defined(self, name):
        if self.jvp is None:
            raise AttributeError(f"No JVP defined for custom_jvp function {name} using defjvp.")

    def _trace_rules(self, split, name, out_tree, primal):
        return {"jvp": self._trace_jvp(split, name, out_tree, primal)}

    def _trace_jvp(self, split, name, out_tree, primal):
        n = len(split.leaves)
        t_avals = [split.avals[k] for k in split.floats]

        def flat(*tracers):
            import irgrad.numpy as jnp
            p, ts = list(tracers[:n]), iter(tracers[n:])
            t = [next(ts) if k in split.floats else np.zeros(av.shape, float0) for k, av in enumerate(split.avals)]
            p_args = tree_util.tree_unflatten(split.tree, p)
            t_args = tree_util.tree_unflatten(split.tree, t)
            r = self.jvp(*split.nondiff_values(), tuple(p_args), tuple(t_args))
            if not (isinstance(r, tuple | list) and len(r) == 2):
                raise TypeError(f"Custom JVP rule must produce a pair (list or tuple of length two) representing "
                                f"primal and tangent outputs, but got {r!r} (function {name}).")
            out, tout = r
            out_leaves, tree = tree_util.tree_flatten(out)
            if tree != out_tree:
                raise TypeError(f"Custom JVP rule must produce primal and tangent outputs with equal container "
                                f"(pytree) structures, but got {tree} and {out_tree} respectively (function {name}).")
            t_leaves = tree_util.tree_leaves(tout, is_leaf=lambda x: x is None)
            if len(t_leaves) != len(out_leaves):
                raise TypeError(f"Custom JVP rule must produce primal and tangent outputs with equal container "
                                f"(pytree) structures (function {name}).")
            touts = []
            for o, tl in zip(out_leaves, t_leaves):
                av = aval_of(o)
                if not dtypes.is_float(av.dtype):
                    continue
                if tl is None or getattr(tl, "dtype", None) == float0:
                    tl = jnp.zeros(av.shape, av.dtype)
                if tuple(aval_of(tl).shape) != av.shape:
                    raise TypeError(f"Custom JVP rule must produce primal and tangent outputs with corresponding "
                                    f"shapes and dtypes, but got {aval_of(tl).str_short()} for primal output "
                                    f"{av.str_short()} (function {name}).")
                touts.append(jnp.asarray(tl, av.dtype))
            return [*out_leaves, *touts]
        traced = trace(flat, [*split.avals, *t_avals], name=f"{name}_jvp", label=f"the custom_jvp rule of {name}")
        _check_same_outputs("JVP", name, traced.out_avals[:len(primal.out_avals)], primal.out_avals)
        return traced
