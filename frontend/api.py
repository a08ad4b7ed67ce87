"""The transformations: jit, grad, value_and_grad.

Every transformation is a Python function that runs inside a trace. At top level
it is wrapped in jit: traced once per signature into an MLIR function, cleaned up,
compiled by IREE and cached. Under an outer trace, grad traces its function into
a separate module, runs the reverse-mode pass there and emits a `func.call` to the
result; the outer pass inlines that call, so grad of grad is just more IR.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
from irgrad.passes import reverse
from irgrad.passes.cleanup import cleanup
from irgrad.passes.ir import building, func, ir
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import TARGETS, Executable

from . import dtypes, tree_util
from .array import Array
from .core import ShapedArray, Tracer, aval_of, host_value, trace_function, trace_stack

# ------------------------------------------------------------------------ helpers


def _is_leaf_value(x):
    return isinstance(x, (Array, Tracer, np.ndarray, np.generic, int, float, bool))


def _check_leaves(leaves, what):
    for i, x in enumerate(leaves):
        if not _is_leaf_value(x):
            raise TypeError(f"Argument '{x!r}' of type {type(x)} is not a valid JAX type ({what} leaf {i}).")


def _argnums_tuple(argnums, nargs, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {argnums} out of range for a function called with {nargs} "
                             "positional arguments")
    return tuple(a % nargs for a in nums)


def emit_call(module: ir.Module, name: str, args, arg_avals, out_avals):
    """Inside the current trace: copy @name out of `module` and call it on `args`."""
    trace = trace_stack()[-1]
    values = [trace.lift(a, av) for a, av in zip(args, arg_avals)]
    callee = reverse.lookup(module, name)

    def build():
        with ir.InsertionPoint.at_block_begin(trace.module.body):
            copy = callee.operation.clone()
        copy.attributes["sym_visibility"] = ir.StringAttr.get("private")
        ftype = ir.FunctionType(ir.TypeAttr(copy.attributes["function_type"]).value)
        return func.CallOp(list(ftype.results), ir.FlatSymbolRefAttr.get(name), values).results

    results = trace.emit(build)
    return [Tracer(trace, r, av) for r, av in zip(results, out_avals)]


# ---------------------------------------------------------------------------- jit


@dataclass
class _Entry:
    traced: object
    out_tree: object
    executable: Executable | None = None
    text: str | None = None


class Lowered:
    """What `jit(f).lower(*args)` returns: the MLIR that will be compiled."""

    def __init__(self, jitted, entry):
        self._jitted, self._entry = jitted, entry

    def as_text(self) -> str:
        return self._jitted._finalize(self._entry)

    def compile(self):
        self._jitted._compile(self._entry)
        return self


class JitFunction:
    """A function compiled with IREE once per input signature (see `jit`)."""

    def __init__(self, fun, static_argnums=(), platform="cpu", name=None):
        self.fun = fun
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.platform = platform
        self.name = name or getattr(fun, "__name__", "fn")
        self._cache: dict = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, fun, updated=())

    # -- signature ------------------------------------------------------------------
    def _split(self, args, kwargs):
        statics = tuple((i, args[i]) for i in self.static_argnums if i < len(args))
        dynamic = [a for i, a in enumerate(args) if i not in self.static_argnums]
        leaves, in_tree = tree_util.tree_flatten((dynamic, kwargs))
        _check_leaves(leaves, "jit argument")
        return statics, leaves, in_tree

    def _rebuild(self, statics, in_tree, leaves):
        dynamic, kwargs = tree_util.tree_unflatten(in_tree, list(leaves))
        args, it, smap = [], iter(dynamic), dict(statics)
        for i in range(len(dynamic) + len(smap)):
            args.append(smap[i] if i in smap else next(it))
        return args, kwargs

    def _entry(self, args, kwargs):
        statics, leaves, in_tree = self._split(args, kwargs)
        avals = tuple(aval_of(x) for x in leaves)
        try:
            key = (in_tree, avals, statics)
            hash(key)
        except TypeError:
            raise ValueError("Non-hashable static arguments are not supported: static_argnums values "
                             "must be hashable") from None
        with self._lock:
            entry = self._cache.get(key)
        if entry is None:
            box = {}

            def flat_fun(*tracers):
                a, kw = self._rebuild(statics, in_tree, tracers)
                out = self.fun(*a, **kw)
                out_leaves, box["tree"] = tree_util.tree_flatten(out)
                _check_leaves(out_leaves, "output")
                return out_leaves

            traced = trace_function(flat_fun, avals, name=self.name)
            entry = _Entry(traced, box["tree"])
            with self._lock:
                self._cache[key] = entry
        return entry, leaves

    # -- compile and run ------------------------------------------------------------
    def _finalize(self, entry) -> str:
        if entry.text is None:
            t = entry.traced
            with building():
                fn = reverse.lookup(t.module, t.name)
                fn.attributes["sym_name"] = ir.StringAttr.get("main")
                cleanup(t.module, self.name)
                entry.text = str(t.module)
        return entry.text

    def _compile(self, entry):
        if entry.executable is None:
            text = self._finalize(entry)
            vmfb = compile_mlir(text, TARGETS[self.platform], name=self.name)
            entry.executable = Executable(vmfb, "main", self.platform)
        return entry.executable

    def __call__(self, *args, **kwargs):
        if trace_stack():
            return self.fun(*args, **kwargs)
        entry, leaves = self._entry(args, kwargs)
        exe = self._compile(entry)
        t = entry.traced
        inputs = [_device_input(x, av) for x, av in zip(leaves, t.in_avals)]
        inputs += [_device_input(c, av) for c, av in zip(t.captures, t.capture_avals)]
        outs = exe(*inputs)
        arrays = [Array(None, av.weak_type, device_array=o, dtype=av.dtype, shape=av.shape)
                  for o, av in zip(outs, t.out_avals)]
        return tree_util.tree_unflatten(entry.out_tree, arrays)

    def lower(self, *args, **kwargs) -> Lowered:
        entry, _ = self._entry(args, kwargs)
        return Lowered(self, entry)


def _device_input(x, aval: ShapedArray):
    if isinstance(x, Array) and x._device is not None and x.dtype == aval.dtype:
        return x._device
    a = np.asarray(host_value(x), dtype=aval.dtype)
    return a if a.flags.c_contiguous else a.copy()  # (ascontiguousarray would make 0-d arrays 1-d)


def jit(fun=None, *, static_argnums=(), device=None):
    """Compile `fun` with IREE, once per input signature.

    >>> import irgrad, irgrad.numpy as jnp
    >>> f = irgrad.jit(lambda x: jnp.sin(x) * 2.0)
    >>> f(jnp.zeros(2))
    Array([0., 0.], dtype=float32)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, device=device)
    platform = getattr(device, "platform", None) or "cpu"
    return JitFunction(fun, static_argnums, platform)


# --------------------------------------------------------------------------- grad

_transform_cache: dict = {}
_transform_lock = threading.Lock()


def _top_level(key, traced_fn):
    """Run `traced_fn` through a cached JitFunction when called outside any trace."""
    try:
        hash(key)
    except TypeError:
        return JitFunction(traced_fn)
    with _transform_lock:
        jf = _transform_cache.get(key)
        if jf is None:
            jf = _transform_cache[key] = JitFunction(traced_fn, name=getattr(key[1], "__name__", "fn"))
    return jf


def _wrt_error(dtype):
    return TypeError(
        f"grad requires real- or complex-valued inputs (input dtype that is a sub-dtype of np.inexact), "
        f"but got {np.dtype(dtype).name}. If you want to use Boolean- or integer-valued inputs, use vjp "
        "or set allow_int to True.")


def _value_and_grad_traced(fun, argnums, has_aux, args, kwargs):
    """Inside a trace: (value, aux, grads) of fun at args, grads w.r.t. args[argnums]."""
    argnums_t = _argnums_tuple(argnums, len(args), "grad")
    flat, in_tree = tree_util.tree_flatten((list(args), kwargs))
    _check_leaves(flat, "grad argument")
    avals = [aval_of(x) for x in flat]
    # Leaf ranges of each positional argument.
    bounds, pos = [], 0
    for a in args:
        n = tree_util.tree_structure(a).num_leaves
        bounds.append((pos, pos + n))
        pos += n
    wrt = [i for k in argnums_t for i in range(*bounds[k])]
    for i in wrt:
        if not dtypes.is_float(avals[i].dtype):
            raise _wrt_error(avals[i].dtype)
    box = {}

    def flat_fun(*tracers):
        a, kw = tree_util.tree_unflatten(in_tree, list(tracers))
        out = fun(*a, **kw)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError("has_aux=True requires the function to return a pair (output, aux), "
                                f"got {type(out).__name__}")
            out, aux = out
        else:
            aux = None
        out_aval = aval_of(out) if isinstance(out, (Tracer, Array, np.ndarray, np.generic, float, int)) else None
        if out_aval is None or out_aval.shape != ():
            shape = out_aval.shape if out_aval is not None else getattr(out, "shape", type(out).__name__)
            raise TypeError(f"Gradient only defined for scalar-output functions. Output had shape: {shape}.")
        if not dtypes.is_float(out_aval.dtype):
            raise TypeError(f"grad requires real-valued outputs (output dtype that is a sub-dtype of "
                            f"np.floating), but got {out_aval.dtype.name}. For holomorphic differentiation, "
                            "pass holomorphic=True. For differentiation of non-holomorphic functions "
                            "involving complex outputs, use jax.vjp directly.")
        aux_leaves, box["aux_tree"] = tree_util.tree_flatten(aux)
        return [out, *aux_leaves]

    inner = trace_function(flat_fun, avals, name=getattr(fun, "__name__", "fn"))
    with building():
        vjp_name = reverse.vjp(inner.module, inner.name, wrt=wrt, seeds=[0])
    out0 = inner.out_avals[0]
    seed = Array(np.ones((), out0.dtype), weak_type=out0.weak_type)
    call_args = [*flat, *inner.captures, seed]
    call_avals = [*avals, *inner.capture_avals, ShapedArray((), out0.dtype, out0.weak_type)]
    grad_avals = [avals[i] for i in wrt]
    results = emit_call(inner.module, vjp_name, call_args, call_avals, inner.out_avals + grad_avals)
    n_out = len(inner.out_avals)
    value, aux_leaves, grads = results[0], results[1:n_out], results[n_out:]
    aux = tree_util.tree_unflatten(box["aux_tree"], aux_leaves) if has_aux else None
    it = iter(grads)
    per_arg = []
    for k in argnums_t:
        leaves = [next(it) for _ in range(*bounds[k])]
        per_arg.append(tree_util.tree_unflatten(tree_util.tree_structure(args[k]), leaves))
    g = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)
    return value, aux, g


def value_and_grad(fun, argnums=0, has_aux=False):
    """Return a function computing `fun`'s value and its gradient.

    >>> import irgrad
    >>> irgrad.value_and_grad(lambda x: x ** 2)(3.0)
    (Array(9., dtype=float32, weak_type=True), Array(6., dtype=float32, weak_type=True))
    """
    def traced(*args, **kwargs):
        value, aux, g = _value_and_grad_traced(fun, argnums, has_aux, args, kwargs)
        return ((value, aux), g) if has_aux else (value, g)

    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):
        if trace_stack():
            return traced(*args, **kwargs)
        key = ("value_and_grad", fun, argnums if isinstance(argnums, int) else tuple(argnums), has_aux)
        return _top_level(key, traced)(*args, **kwargs)

    return value_and_grad_f


def grad(fun, argnums=0, has_aux=False):
    """Return a function computing the gradient of scalar-valued `fun`.

    >>> import irgrad, irgrad.numpy as jnp
    >>> float(irgrad.grad(jnp.tanh)(2.0))
    0.07065081596374512
    """
    def traced(*args, **kwargs):
        value, aux, g = _value_and_grad_traced(fun, argnums, has_aux, args, kwargs)
        return (g, aux) if has_aux else g

    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        if trace_stack():
            return traced(*args, **kwargs)
        key = ("grad", fun, argnums if isinstance(argnums, int) else tuple(argnums), has_aux)
        return _top_level(key, traced)(*args, **kwargs)

    return grad_f
