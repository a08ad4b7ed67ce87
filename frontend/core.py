"""Abstract values, tracers, and the trace that turns a Python function into MLIR.

A `Trace` owns one MLIR module with one `func.func` under construction. Running a
Python function on `Tracer`s appends ops to that function; `Trace.finish` adds the
return. Values a function closes over are lifted in: outer tracers and large arrays
become extra function arguments ("captures"), small arrays become constants.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np
from irgrad.passes.ir import building, constant, func, ir, tensor_type, verify

from . import dtypes
from .array import ArrayMethods

# Arrays with more elements than this are passed as arguments, not embedded in the IR.
CONSTANT_LIMIT = 64


@dataclass(frozen=True)
class ShapedArray:
    """The abstract value of an array: shape, dtype and JAX's weak_type flag."""

    shape: tuple
    dtype: np.dtype
    weak_type: bool = False

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def str_short(self):
        return f"{self.dtype.name}[{','.join(map(str, self.shape))}]"

    def __repr__(self):
        return f"ShapedArray({self.str_short()}{', weak_type=True' if self.weak_type else ''})"


class ConcretizationTypeError(TypeError):
    """A traced value was used where Python needs a concrete one (`if`, `bool()`, ...)."""


class TracerBoolConversionError(ConcretizationTypeError):
    """`bool()` (an `if`, `while`, `and`, ...) on a value traced by jit."""


class TracerIntegerConversionError(ConcretizationTypeError):
    """`__index__()` (a `range()`, list index, ...) on a value traced by jit."""


class TracerArrayConversionError(ConcretizationTypeError):
    """`np.asarray()` (or any NumPy function) on a traced value."""


class NonConcreteBooleanIndexError(IndexError):
    """`x[mask]` with a boolean mask traced by jit: the result's shape would depend on values."""


class UnexpectedTracerError(RuntimeError):
    """A tracer escaped the function whose trace created it."""


_state = threading.local()


def trace_stack() -> list:
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


def value_reads() -> int:
    """How many times a traced value's concrete value was read by Python on this thread
    (`if x > 0` under bare grad). A trace that read values is valid only for those values."""
    return getattr(_state, "reads", 0)


def _count_read():
    _state.reads = value_reads() + 1


_names = itertools.count()


def fresh_name(base: str) -> str:
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in base) or "fn"
    return f"{safe}_{next(_names)}"


def _package_dirs():
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [here, os.path.dirname(os.path.abspath(sys.modules["irgrad.passes.ir"].__file__)),
            os.path.join(os.path.dirname(here), "runtime")]
    pkg = sys.modules.get("irgrad")
    if pkg is not None and getattr(pkg, "__file__", None):
        dirs.append(os.path.dirname(os.path.abspath(pkg.__file__)))
    return tuple(d + os.sep for d in dirs)


_PACKAGE_DIRS = _package_dirs()


def user_frame():
    """(filename, line) of the innermost frame outside irgrad itself."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PACKAGE_DIRS) and not fn.startswith("<frozen"):
            return fn, f.f_lineno
        f = f.f_back
    return "<unknown>", 0


def user_location() -> str:
    fn, line = user_frame()
    return f"{fn}:{line}"


class Tracer(ArrayMethods):
    """An array being traced: an SSA value in a Trace's function plus its aval.

    `concrete` holds the NumPy value when it is known (bare grad, not jit), so Python
    control flow on it works as in JAX.
    """

    __slots__ = ("trace", "value", "aval", "concrete")
    __array_priority__ = 1000

    def __init__(self, trace, value, aval, concrete=None):
        self.trace, self.value, self.aval, self.concrete = trace, value, aval, concrete

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)
    weak_type = property(lambda self: self.aval.weak_type)

    def __repr__(self):
        return f"Traced<{self.aval!r}>"

    def _concrete(self, what):
        """The concrete value for a Python conversion, or a JAX-worded error under jit."""
        if self.concrete is None:
            raise _concretization_error(self, what)
        _count_read()
        return self.concrete

    def _differentiable_concrete(self, what):
        """Like _concrete, but refused (as JAX does) when the value depends on an input
        being differentiated: converting it would silently drop the derivative."""
        if self.concrete is not None and self.trace.is_active(self):
            raise _concretization_error(self, what)
        return self._concrete(what)

    def __bool__(self):
        return bool(self._concrete("bool"))

    def __int__(self):
        return int(self._concrete("int"))

    def __float__(self):
        return float(self._differentiable_concrete("float"))

    def __complex__(self):
        return complex(self._differentiable_concrete("complex"))

    def __index__(self):
        if not dtypes.is_int(self.dtype) and not dtypes.is_bool(self.dtype):
            raise TypeError("Only integer scalar arrays can be converted to a scalar index.")
        return int(self._concrete("index"))

    def item(self, *args):
        return self._concrete("item").item(*args)

    def tolist(self):
        return np.asarray(self._differentiable_concrete("array")).tolist()

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._differentiable_concrete("array"), dtype)

    def __hash__(self):
        raise TypeError("unhashable type: traced array")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))


_CONVERSION_MESSAGES = {
    "bool": (TracerBoolConversionError, "Attempted boolean conversion of traced array with shape {aval}."),
    "index": (TracerIntegerConversionError, "The __index__() method was called on traced array with shape {aval}"),
    "array": (TracerArrayConversionError,
              "The numpy.ndarray conversion method __array__() was called on traced array with shape {aval}"),
}


def _concretization_error(tracer, what) -> ConcretizationTypeError:
    """JAX's wording for a concrete-value request on a tracer, plus the user's file:line."""
    aval = tracer.aval.str_short()
    cls, msg = _CONVERSION_MESSAGES.get(what, (ConcretizationTypeError, None))
    if msg is None:
        msg = f"Abstract tracer value encountered where concrete value is expected: traced array with shape {aval}"
        if what in ("float", "int", "complex", "item"):
            msg += f"\nThe problem arose with the `{what}` function."
        if what in ("float", "int", "complex"):
            msg += (f" If trying to convert the data type of a value, try using `x.astype({what})` or "
                    f"`jnp.array(x, {what})` instead.")
    else:
        msg = msg.format(aval=aval)
    fn, line = user_frame()
    if tracer.concrete is None:
        why = ("This concrete value was not available in Python because it depends on the value of an argument "
               "of a jitted function. Use jnp.where (or lax.cond) for value-dependent choices, or mark the "
               "argument static with static_argnums.")
    else:
        why = "The value depends on an input being differentiated, so converting it would drop its derivative."
    return cls(f"{msg}\nThe error occurred at {fn}:{line} while tracing {tracer.trace.label}. {why}")


@dataclass
class Traced:
    """A finished trace: module, function name, and how to call it."""

    module: ir.Module
    name: str
    in_avals: list
    out_avals: list
    captures: list          # outer tracers / host arrays passed after the explicit arguments
    capture_avals: list
    out_tree: object = None
    aux: object = None      # anything a transformation wants to carry along

    def text(self) -> str:
        with building():
            return str(self.module)


class Trace:
    """Builds one func.func while a Python function runs on Tracers."""

    def __init__(self, name: str, in_avals, concrete_args=None, active=None, label=None):
        self.name = name
        self.label = label or name   # how errors name the function being traced
        self.level = len(trace_stack())
        # Per block argument: True if it is being differentiated, else False, or the outer
        # Tracer it stands for (active if that one is). Read only by `is_active`.
        self.sources = list(active) if active is not None else [False] * len(in_avals)
        self.track_concrete = concrete_args is not None
        self.in_avals = list(in_avals)
        self.captures, self.capture_avals = [], []
        self._lifted = {}       # id(obj) -> (obj, value)
        with building():
            self.module = ir.Module.create()
            with ir.InsertionPoint(self.module.body):
                ftype = ir.FunctionType.get([tensor_type(a.shape, a.dtype) for a in in_avals], [])
                self.func = func.FuncOp(name, ftype)
            self.block = self.func.add_entry_block()
        concrete_args = concrete_args or [None] * len(in_avals)
        self.args = [Tracer(self, v, a, c) for v, a, c in zip(self.block.arguments, in_avals, concrete_args)]

    # -- emitting ------------------------------------------------------------------
    def location(self):
        fn, line = user_frame()
        return ir.Location.file(fn, line, 0, context=self.module.context)

    def emit(self, build):
        """Run `build()` with this trace's insertion point and the user's location."""
        with self.module.context, self.location(), ir.InsertionPoint(self.block):
            return build()

    def lift(self, x, aval) -> ir.Value:
        """The SSA value standing for `x` (a tracer, array or Python scalar) here."""
        if isinstance(x, Tracer) and x.trace is self:
            return x.value
        key = (id(x), aval.dtype)
        hit = self._lifted.get(key)
        if hit is not None and hit[0] is x:
            return hit[1]
        if isinstance(x, Tracer):
            if x.trace.level >= self.level:
                raise UnexpectedTracerError(
                    f"Encountered an unexpected tracer {x!r}: it was created inside a transformed "
                    f"function whose trace has ended (used at {user_location()}).")
            value = self._capture(x, aval)
        else:
            host = np.asarray(host_value(x), dtype=aval.dtype)
            if host.size <= CONSTANT_LIMIT:
                value = self.emit(lambda: constant(host))
            else:
                value = self._capture(x, aval)
        if not isinstance(x, (int, float, bool)):
            self._lifted[key] = (x, value)
        return value

    def _capture(self, x, aval):
        self.captures.append(x)
        self.capture_avals.append(aval)
        self.sources.append(x if isinstance(x, Tracer) else False)
        with self.module.context, ir.Location.unknown():
            return self.block.add_argument(tensor_type(aval.shape, aval.dtype), ir.Location.unknown())

    def is_active(self, tracer) -> bool:
        """Whether `tracer` depends on an input being differentiated: walk its IR back to
        this function's arguments (and through captures to outer traces)."""
        if tracer.trace is not self:
            return tracer.trace.is_active(tracer)
        seen, todo = set(), [tracer.value]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            if isinstance(v, ir.BlockArgument):
                if v.owner == self.block and self._source_active(v.arg_number):
                    return True
            else:
                todo.extend(_operands_within(v.owner))
        return False

    def _source_active(self, i) -> bool:
        src = self.sources[i] if i < len(self.sources) else False
        return src.trace.is_active(src) if isinstance(src, Tracer) else bool(src)

    def finish(self, outs, out_avals) -> Traced:
        values = [self.lift(o, a) for o, a in zip(outs, out_avals)]
        with self.module.context, ir.Location.unknown(), ir.InsertionPoint(self.block):
            func.ReturnOp(values)
            arg_types = [a.type for a in self.block.arguments]
            self.func.attributes["function_type"] = ir.TypeAttr.get(
                ir.FunctionType.get(arg_types, [v.type for v in values]))
            verify(self.module, self.name)
        return Traced(self.module, self.name, self.in_avals, list(out_avals), self.captures,
                      self.capture_avals)


def _operands_within(op):
    """Operands of `op` and of the ops nested in its regions."""
    out = list(op.operands)
    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                out.extend(_operands_within(inner))
    return out


def host_value(x):
    """NumPy value of a concrete array-like (irgrad.Array, ndarray, scalar). On a tracer
    this is a read of its concrete value by Python (see `value_reads`)."""
    if isinstance(x, Tracer):
        return x._concrete("conversion to a host value")
    hv = getattr(x, "_host", None)
    if hv is not None:
        return hv()
    return x


def concrete_value(x):
    """Like host_value, but None for a tracer without a concrete value, and not counted as
    a read: for evaluating ops eagerly alongside the trace."""
    return x.concrete if isinstance(x, Tracer) else host_value(x)


def aval_of(x) -> ShapedArray:
    if isinstance(x, Tracer):
        return x.aval
    dtype, weak = dtypes.dtype_and_weak(x)
    return ShapedArray(tuple(np.shape(x)), np.dtype(dtype), weak)


def trace_function(fun, in_avals, name=None, concrete_args=None, active=None, label=None):
    """Trace `fun(*tracers)` (flat list in, flat list out) into a Traced function.

    `concrete_args` (NumPy values) ride along so Python can branch on them (bare grad);
    `active` marks the arguments being differentiated (see `Trace.is_active`)."""
    trace = Trace(fresh_name(name or getattr(fun, "__name__", "fn")), in_avals, concrete_args, active, label)
    stack = trace_stack()
    stack.append(trace)
    try:
        outs = list(fun(*trace.args))
        out_avals = [aval_of(o) for o in outs]
        traced = trace.finish(outs, out_avals)
    finally:
        stack.pop()
    return traced


def current_trace(args):
    """The trace to emit into for an op on `args`: the innermost tracer's trace."""
    best = None
    for a in args:
        if isinstance(a, Tracer) and (best is None or a.trace.level > best.level):
            best = a.trace
    if best is not None:
        stack = trace_stack()
        if best.level >= len(stack) or stack[best.level] is not best:
            raise UnexpectedTracerError(
                f"Encountered an unexpected tracer: a value traced by an inner transformation "
                f"escaped it and was used at {user_location()}.")
    return best
