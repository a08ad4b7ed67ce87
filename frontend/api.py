"""The transformations jit, grad and value_and_grad, and the compiled functions that
run transformations called at top level.

Under an outer trace, grad traces its function into a module of its own
(staging.py), runs the reverse-mode pass there and emits a `func.call` to the
result; jit does the same without the pass; the outer pass inlines that call, so
grad of grad is just more IR. At top level, `jit(f)` is a JitFunction: traced
abstractly once per signature, compiled by IREE and cached. Every other
transformation (grad here, jvp / vjp / vmap in transforms.py) runs at top level
through a TransformRunner, compiled the same way but with JAX's eager semantics:
non-array arguments that are not differentiated stay Python values (static), and
array values ride along the trace so `if x > 0:` works. A trace that read a value
is reused only for the same input values.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from irgrad.passes import ad, reverse
from irgrad.passes.cleanup import cleanup
from irgrad.passes.ir import building, ir, strip_markers
from irgrad.runtime import backends
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable, to_device

from . import dtypes, memory, tree_util
from .array import Array
from .config import config
from .core import (
    ShapedArray,
    Tracer,
    aval_of,
    host_value,
    trace_stack,
    value_reads,
)
from .devices import CPU, Device, committed_device, get_default_device, resolve
from .staging import (
    call_traced,
    concrete_args,
    emit_call,
    flatten_fun,
    fun_key,
    fun_name,
    is_array_leaf,
    stats,
    trace,
    wrap_transformed,
)

# ------------------------------------------------------------------------ helpers


def _arg_names(fun, nargs):
    """Names JAX gives positional arguments in error paths: parameter names, `args[i]`."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    names, var = [], None
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            var = p.name
    var = var or "args"
    return [names[i] if i < len(names) else f"{var}[{i - len(names)}]" for i in range(nargs)]


def _not_array_error(fun, args, kwargs, bad) -> TypeError:
    """JAX's error for a non-array argument to jit, naming where it was passed."""
    path = _path_of(fun, args, kwargs, bad) or "?"
    return TypeError(
        f"Error interpreting argument to {fun!r} as an abstract array. The problematic value is of type "
        f"{type(bad)} and was passed to the function at path {path}.\n"
        "This typically means that a jit-wrapped function was called with a non-array argument, and this "
        "argument was not marked as static using the static_argnums or static_argnames parameters of jax.jit.")


def _hash_error(value, err) -> ValueError:
    return ValueError(
        f"Non-hashable static arguments are not supported. An error occurred while trying to hash an object of "
        f"type {type(value)}, {value!r}. The error was:\n{type(err).__name__}: {err}\n")


# ----------------------------------------------------------------- call signatures


@dataclass
class _Signature:
    """One call's arguments split into what is traced (array leaves) and what is not."""

    key: object               # cache key; None when a static value is unhashable
    dynamic: list             # array leaves, traced
    avals: tuple
    rebuild: object           # tracers -> (args, kwargs)

    def call(self, fun, *tracers):
        """fun applied to the call's arguments with `tracers` for the traced leaves."""
        args, kwargs = self.rebuild(tracers)
        return fun(*args, **kwargs)


def _split_call(args, kwargs, static_pos=(), static_names=(), keep_static=None, on_bad=None, traced=None):
    """Split a call. Positions in `static_pos` / names in `static_names` are static
    whole; a leaf is traced if `traced(leaf index, leaf)` (default: array leaves);
    otherwise it is static if `keep_static(leaf index)` says so, else `on_bad(leaf)`
    raises."""
    args, kwargs = list(args), dict(kwargs)
    statics = []
    for i in static_pos:
        if i < len(args):
            statics.append((i, args[i]))
            args[i] = None          # a pytree node with no leaves; put back by rebuild
    for k in static_names:
        if k in kwargs:
            statics.append((k, kwargs[k]))
            kwargs[k] = None
    leaves, tree = tree_util.tree_flatten((args, kwargs))
    dynamic, static_leaves = [], []
    for i, x in enumerate(leaves):
        is_traced = traced(i, x) if traced is not None else is_array_leaf(x)
        if is_traced and is_array_leaf(x):
            dynamic.append(x)
        elif not is_traced and keep_static is not None and keep_static(i):
            static_leaves.append((i, x))
        else:
            raise on_bad(x)
    avals = tuple(aval_of(x) for x in dynamic)
    # (types too: 2, 2.0 and True are equal as dict keys but trace differently)
    key = (tree, avals, tuple((w, type(v), v) for w, v in statics), tuple((i, type(v), v) for i, v in static_leaves),
           config.irgrad_strong_zero)     # (the passes' one option changes the IR)
    try:
        hash(key)
    except TypeError:
        key = None      # not cached (grad with an unhashable non-array argument)
        for _, v in statics:
            try:
                hash(v)
            except TypeError as e:
                raise _hash_error(v, e) from None

    def rebuild(tracers):
        flat, it, fixed = [], iter(tracers), dict(static_leaves)
        for i in range(len(leaves)):
            flat.append(fixed[i] if i in fixed else next(it))
        a, kw = tree_util.tree_unflatten(tree, flat)
        for where, v in statics:
            if isinstance(where, int):
                a[where] = v
            else:
                kw[where] = v
        return a, kw

    return _Signature(key, dynamic, avals, rebuild)


def _leaf_bounds(args):
    """[start, stop) of each positional argument's leaves in tree_flatten((args, kwargs))."""
    bounds, pos = [], 0
    for a in args:
        n = tree_util.tree_structure(a).num_leaves
        bounds.append((pos, pos + n))
        pos += n
    return bounds


# ------------------------------------------------------------ compiled functions


@dataclass
class _Entry:
    traced: object
    out_tree: object
    value_dependent: bool = False
    executables: dict = field(default_factory=dict)       # Device -> Executable
    text: str | None = None
    capture_inputs: dict = field(default_factory=dict)    # Device -> the captures uploaded there
    lock: threading.Lock = field(default_factory=threading.Lock)


class Lowered:
    """What `jit(f).lower(*args)` returns: the MLIR that will be compiled."""

    def __init__(self, jitted, entry):
        self._jitted, self._entry = jitted, entry
        self.traced, self.out_tree = entry.traced, entry.out_tree

    def as_text(self) -> str:
        """The module IREE compiles: `func.func @main` on tensors (linalg, arith, math)."""
        return self._jitted._finalize(self._entry)

    def compile(self):
        """Compile now; the result can be called like the jitted function."""
        self._jitted._executable(self._entry)
        return self

    def __call__(self, *args, **kwargs):
        return self._jitted(*args, **kwargs)


_executables: OrderedDict = OrderedDict()   # (IR hash, platform, device id) -> Executable
_executables_lock = threading.Lock()
_MAX_EXECUTABLES = 512
_MAX_VALUE_ENTRIES = 32


def _load(text: str, device, name: str) -> Executable:
    """Compile (or fetch) the module and load it once per distinct IR text and device
    (a Device or a platform name)."""
    device = device if isinstance(device, Device) else Device(device)
    key = (hashlib.sha256(text.encode()).hexdigest(), device.platform, device.id)
    with _executables_lock:
        exe = _executables.get(key)
    if exe is None:
        vmfb = compile_mlir(text, backends.backend(device.platform).target, name=name)
        exe = Executable(vmfb, "main", device.platform, device.id)
        with _executables_lock:
            _executables[key] = exe
            while len(_executables) > _MAX_EXECUTABLES:
                _executables.popitem(last=False)
    return exe


class _Compiled:
    """A function traced once per call signature into @main, compiled by IREE once per
    device and cached; subclasses say how a call is split (`_signature`) and traced
    (`_trace_entry`)."""

    def __init__(self, fun, name=None, device=None):
        self.fun = fun
        self.name = name or fun_name(fun)
        self.device = device        # where every call runs (jit's device=), or None: where the inputs live
        self._cache: dict = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, fun, updated=())

    def _lookup(self, sig: _Signature) -> _Entry:
        if sig.key is None:
            return self._trace_entry(sig)
        with self._lock:
            entry = self._find(sig)
        if entry is None:
            entry = self._trace_entry(sig)
            with self._lock:
                self._store(sig, entry)
        return entry

    def _find(self, sig: _Signature) -> _Entry | None:
        return self._cache.get(sig.key)

    def _store(self, sig: _Signature, entry: _Entry) -> None:
        self._cache[sig.key] = entry

    def _trace_flat(self, sig: _Signature, who: str, concrete=None) -> _Entry:
        flat, trees = flatten_fun(functools.partial(sig.call, self.fun), f"function {self.name} traced for {who}")
        reads = value_reads()
        traced = trace(flat, sig.avals, name=self.name, concrete_args=concrete,
                       label=f"the function {self.name} for {who}")
        return _Entry(traced, trees.out, value_dependent=value_reads() != reads)

    def _finalize(self, entry) -> str:
        with entry.lock:
            if entry.text is None:
                t = entry.traced
                with building():
                    fn = ad.lookup(t.module, t.name)
                    fn.attributes["sym_name"] = ir.StringAttr.get("main")
                    strip_markers(t.module)
                    cleanup(t.module, self.name)
                    entry.text = str(t.module)
        return entry.text

    def _executable(self, entry, device=None) -> Executable:
        device = device or self.device or get_default_device()
        exe = entry.executables.get(device)
        if exe is None:
            text = self._finalize(entry)
            exe = entry.executables[device] = _load(text, device, self.name)
            stats.compiles += 1
        return exe

    def _captures(self, entry, device) -> list:
        """The captured constants as device arrays, uploaded once per entry and device."""
        uploaded = entry.capture_inputs.get(device)
        if uploaded is None:
            t = entry.traced
            inputs = [_device_input(c, av, device) for c, av in zip(t.captures, t.capture_avals)]
            uploaded = entry.capture_inputs[device] = [
                to_device(x, device.platform, device.id) if isinstance(x, np.ndarray) else x for x in inputs]
        return uploaded

    def _placement(self, sig, args, kwargs) -> tuple[Device, bool]:
        """(device, committed) of a call: jit's device=, else the device the committed
        inputs share (as JAX: computations follow their data), else the default device."""
        if self.device is not None:
            return self.device, True
        found = committed_device(sig.dynamic, lambda i: _describe_leaf(self.fun, self.name, args, kwargs,
                                                                       sig.dynamic[i]))
        return (found, True) if found is not None else (get_default_device(), False)

    def _run(self, args, kwargs):
        entry = self._lookup(sig := self._signature(args, kwargs))
        device, committed = self._placement(sig, args, kwargs)
        exe = self._executable(entry, device)
        t = entry.traced
        inputs = [_device_input(x, av, device) for x, av in zip(sig.dynamic, t.in_avals)]
        outs = memory.run(exe, [*inputs, *self._captures(entry, device)], f"jit({self.name})", device, t.out_avals,
                          entry.out_tree)
        stats.calls += 1
        arrays = [Array(None, av.weak_type, device_array=o, dtype=av.dtype, shape=av.shape, placement=device,
                        committed=committed) for o, av in zip(outs, t.out_avals)]
        return tree_util.tree_unflatten(entry.out_tree, arrays)

    def lower(self, *args, **kwargs) -> Lowered:
        """Trace for these arguments without compiling; `.as_text()` gives the MLIR."""
        return Lowered(self, self._lookup(self._signature(args, kwargs)))

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)


class JitFunction(_Compiled):
    """A function compiled with IREE once per input signature (see `jit`): array leaves
    are traced abstractly, `static_argnums` / `static_argnames` are Python values that
    key the cache, any other non-array leaf is an error."""

    def __init__(self, fun, static_argnums=(), static_argnames=(), name=None, device=None):
        super().__init__(fun, name, device)
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.static_argnames = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        self._irgrad_key = ("jit", fun_key(fun), self.static_argnums, self.static_argnames, self.device)

    def _signature(self, args, kwargs) -> _Signature:
        n = len(args)
        pos = tuple(sorted({i % n for i in self.static_argnums if -n <= i < n}))
        return _split_call(args, kwargs, pos, self.static_argnames,
                           on_bad=lambda x: _not_array_error(self.fun, args, kwargs, x))

    def _trace_entry(self, sig: _Signature) -> _Entry:
        return self._trace_flat(sig, "jit")

    def __call__(self, *args, **kwargs):
        if trace_stack():
            return self._call_traced(args, kwargs)
        return self._run(args, kwargs)

    def _call_traced(self, args, kwargs):
        """jit under another transformation: trace `fun` abstractly (no concrete values,
        as JAX's jit) into its own function and call it from the outer trace."""
        entry = self._trace_entry(sig := self._signature(args, kwargs))
        t = entry.traced
        with building():
            cleanup(t.module, self.name, keep=t.name)
        return tree_util.tree_unflatten(entry.out_tree, call_traced(t, sig.dynamic))


class TransformRunner(_Compiled):
    """A transformation (grad, vjp, vmap, ...) called outside any trace, compiled like
    jit but with JAX's eager semantics: the leaves of the `argnums` arguments and every
    array are traced, with their values riding along (JAX's grad is not staged, so
    Python may branch on them); other Python values are static. A trace that read a
    value is cached per input values."""

    def __init__(self, fun, argnums, name=None):
        super().__init__(fun, name)
        self.argnums = argnums

    def _signature(self, args, kwargs) -> _Signature:
        bounds = _leaf_bounds(args)
        diff = {i for k in argnums_tuple(self.argnums, len(args)) for i in range(*bounds[k])}
        return _split_call(args, kwargs, keep_static=lambda i: i not in diff,
                           traced=lambda i, x: i in diff or isinstance(x, Array | Tracer | np.ndarray | np.generic),
                           on_bad=_not_valid_type)

    def _trace_entry(self, sig: _Signature) -> _Entry:
        concrete = [np.asarray(host_value(x), av.dtype) for x, av in zip(sig.dynamic, sig.avals)]
        return self._trace_flat(sig, "grad", concrete)

    def _find(self, sig: _Signature) -> _Entry | None:
        entry = self._cache.get(sig.key)
        if isinstance(entry, OrderedDict):      # value-dependent traces of this signature
            entry = entry.get(_value_key(sig.dynamic))
        return entry

    def _store(self, sig: _Signature, entry: _Entry) -> None:
        by_value = self._cache.get(sig.key)
        if not entry.value_dependent and not isinstance(by_value, OrderedDict):
            self._cache[sig.key] = entry
            return
        if not isinstance(by_value, OrderedDict):
            by_value = self._cache[sig.key] = OrderedDict()
        by_value[_value_key(sig.dynamic)] = entry
        while len(by_value) > _MAX_VALUE_ENTRIES:
            by_value.popitem(last=False)

    def __call__(self, *args, **kwargs):
        return self._run(args, kwargs)


def _value_key(leaves):
    return tuple((str(np.asarray(host_value(x)).dtype), np.shape(x), np.asarray(host_value(x)).tobytes())
                 for x in leaves)


def _device_input(x, aval: ShapedArray, device: Device = CPU):
    """`x` as an executable on `device` takes it: its buffer there if it has one, else
    host values (which the call uploads)."""
    if isinstance(x, Array) and x.dtype == aval.dtype:
        buffer = x._buffer_on(device)
        if buffer is not None:
            return buffer
    a = np.asarray(host_value(x), dtype=aval.dtype)
    return a if a.flags.c_contiguous else a.copy()  # (ascontiguousarray would make 0-d arrays 1-d)


def _path_of(fun, args, kwargs, leaf) -> str | None:
    """The key path JAX gives an input leaf in errors ("x", "p['w']", "args[1]"), or None."""
    named = [*zip(_arg_names(fun, len(args)), args), *kwargs.items()]
    for name, a in named:
        for path, x in zip(tree_util.leaf_paths(tree_util.tree_structure(a), name), tree_util.tree_leaves(a)):
            if x is leaf:
                return path
    return None


def _describe_leaf(fun, fun_name, args, kwargs, leaf) -> str:
    """How JAX names an input leaf in errors: "argument x of f", "argument p['w'] of f"."""
    path = _path_of(fun, args, kwargs, leaf)
    return f"an argument of {fun_name}" if path is None else f"argument {path} of {fun_name}"


# JAX's jit options that only place buffers or steer XLA: accepted, no effect here.
_IGNORED_JIT_OPTIONS = ("in_shardings", "out_shardings", "donate_argnums", "donate_argnames", "keep_unused",
                        "inline", "compiler_options")


def jit(fun=None, /, *, static_argnums=(), static_argnames=(), device=None, backend=None, **options):
    """Compile `fun` with IREE, once per input signature (shapes, dtypes, static args).

    `device` (a Device or platform name; or `backend`, a platform name) fixes where it
    runs; by default a call runs on its committed inputs' device, else the default
    device (see irgrad.default_device). JAX's options that only affect buffers or XLA
    (`donate_argnums`, shardings, ...) are accepted and ignored; any other keyword is
    a TypeError, as in JAX.

    >>> import irgrad, irgrad.numpy as jnp
    >>> f = irgrad.jit(lambda x: jnp.sin(x) * 2.0)
    >>> f(jnp.zeros(2))
    Array([0., 0.], dtype=float32)
    """
    for name in options:
        if name not in _IGNORED_JIT_OPTIONS:
            raise TypeError(f"jit() got an unexpected keyword argument '{name}'")
    if device is not None and backend is not None:
        raise ValueError(f"can't specify both a device and a backend for jit, got device={device} and "
                         f"backend={backend!r}")
    where = device if device is not None else backend
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 device=where)
    return JitFunction(fun, static_argnums, static_argnames, device=None if where is None else resolve(where))


# --------------------------------------------------------------------------- grad

_runners: OrderedDict = OrderedDict()
_runners_lock = threading.Lock()
_MAX_RUNNERS = 1024


def _runner(key, traced_fn, argnums, name) -> TransformRunner:
    """The cached TransformRunner of a transformation (one per `key` when it is hashable)."""
    try:
        hash(key)
    except TypeError:
        return TransformRunner(traced_fn, argnums, name)
    with _runners_lock:
        runner = _runners.get(key)
        if runner is None:
            runner = _runners[key] = TransformRunner(traced_fn, argnums, name)
            while len(_runners) > _MAX_RUNNERS:
                _runners.popitem(last=False)
    return runner


def staged(key, traced, argnums, name):
    """A transformation's function: `traced` inline under a trace, else through the
    cached TransformRunner for `key` (`argnums`: the differentiated arguments)."""
    def run(*args, **kwargs):
        if trace_stack():
            return traced(*args, **kwargs)
        return _runner(key, traced, argnums, name)(*args, **kwargs)
    return run


def _not_valid_type(x) -> TypeError:
    return TypeError(f"Argument '{x}' of type {type(x)} is not a valid JAX type.")


def _wrt_error(dtype):
    return TypeError(
        f"grad requires real- or complex-valued inputs (input dtype that is a sub-dtype of np.inexact), "
        f"but got {np.dtype(dtype).name}. If you want to use Boolean- or integer-valued inputs, use vjp "
        "or set allow_int to True.")


def argnums_tuple(argnums, nargs):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            need = a + 1 if a >= 0 else -a
            raise TypeError(f"differentiating with respect to argnums={argnums} requires at least {need} "
                            f"positional arguments to be passed by the caller, but got only {nargs} positional "
                            "arguments.")
    return tuple(a % nargs for a in nums)


def _check_scalar(out) -> None:
    """JAX's errors for an output grad cannot differentiate: not a real scalar."""
    if out is None:
        raise TypeError("Gradient only defined for scalar-output functions. Output was None.")
    if not is_array_leaf(out):
        raise TypeError(f"Gradient only defined for scalar-output functions. Output was {out!r}.")
    aval = aval_of(out)
    if aval.shape != ():
        raise TypeError(f"Gradient only defined for scalar-output functions. Output had shape: {aval.shape}.")
    if not dtypes.is_float(aval.dtype):
        raise TypeError(f"grad requires real-valued outputs (output dtype that is a sub-dtype of np.floating), "
                        f"but got {aval.dtype.name}. For differentiation of functions with integer outputs, use "
                        "jax.vjp directly.")


def _value_and_grad_traced(fun, argnums, has_aux, args, kwargs):
    """Inside a trace: (value, aux, grads) of fun at args, grads w.r.t. args[argnums].

    The function is traced into its own module (with the outer values riding along
    when the outer trace has them), reverse.vjp adds its adjoint, and a func.call
    to the adjoint is emitted into the outer trace."""
    argnums_t = argnums_tuple(argnums, len(args))
    bounds = _leaf_bounds(args)
    diff = {i for k in argnums_t for i in range(*bounds[k])}
    # Only the differentiated leaves are traced; everything else (outer tracers, arrays,
    # Python values) is closed over as it is, as in JAX.
    sig = _split_call(args, kwargs, keep_static=lambda i: i not in diff, traced=lambda i, x: i in diff,
                      on_bad=_not_valid_type)
    position = {i: j for j, i in enumerate(sorted(diff))}
    wrt = [position[i] for k in argnums_t for i in range(*bounds[k])]   # traced inputs, in argnums order
    for j in wrt:
        if not dtypes.is_float(sig.avals[j].dtype):
            raise _wrt_error(sig.avals[j].dtype)
    name = fun_name(fun)
    flat, trees = flatten_fun(functools.partial(sig.call, fun), f"the function {name} for grad", has_aux,
                              check_out=_check_scalar)
    inner = trace(flat, sig.avals, name=name, concrete_args=concrete_args(sig.dynamic, sig.avals),
                  active=[True] * len(sig.dynamic), label=f"the function {name} for grad")
    with building():
        vjp_name = reverse.vjp(inner.module, inner.name, wrt=wrt, seeds=[0], strong_zero=config.irgrad_strong_zero)
    out0 = inner.out_avals[0]
    seed = Array(np.ones((), out0.dtype), weak_type=out0.weak_type)
    call_args = [*sig.dynamic, *inner.captures, seed]
    call_avals = [*sig.avals, *inner.capture_avals, ShapedArray((), out0.dtype, out0.weak_type)]
    grad_avals = [sig.avals[j] for j in wrt]
    results = emit_call(inner.module, vjp_name, call_args, call_avals, inner.out_avals + grad_avals)
    n_out = len(inner.out_avals)
    value, aux = trees.unflatten(results[:n_out])
    grads = iter(results[n_out:])
    per_arg = [tree_util.tree_unflatten(tree_util.tree_structure(args[k]), [next(grads) for _ in range(*bounds[k])])
               for k in argnums_t]
    return value, aux, per_arg[0] if isinstance(argnums, int) else tuple(per_arg)


def _transformation(kind, fun, argnums, has_aux, package):
    """The function grad / value_and_grad return: traced inline under an outer
    transformation, run through a cached TransformRunner at top level."""
    nums = argnums if isinstance(argnums, int) else tuple(argnums)
    key = (kind, fun_key(fun), nums, has_aux)
    run = staged(key, lambda *a, **kw: package(*_value_and_grad_traced(fun, argnums, has_aux, a, kw)), argnums,
                 f"{kind}_{fun_name(fun)}")

    def transformed(*args, **kwargs):
        argnums_tuple(argnums, len(args))
        return run(*args, **kwargs)
    return wrap_transformed(transformed, fun, key)


def value_and_grad(fun, argnums=0, has_aux=False):
    """Return a function computing `fun`'s value and its gradient.

    >>> import irgrad
    >>> irgrad.value_and_grad(lambda x: x ** 2)(3.0)
    (Array(9., dtype=float32, weak_type=True), Array(6., dtype=float32, weak_type=True))
    """
    return _transformation("value_and_grad", fun, argnums, has_aux,
                           lambda v, aux, g: ((v, aux), g) if has_aux else (v, g))


def grad(fun, argnums=0, has_aux=False):
    """Return a function computing the gradient of scalar-valued `fun`.

    >>> import irgrad, irgrad.numpy as jnp
    >>> float(irgrad.grad(jnp.tanh)(2.0))
    0.07065081596374512
    """
    return _transformation("grad", fun, argnums, has_aux, lambda v, aux, g: (g, aux) if has_aux else g)
