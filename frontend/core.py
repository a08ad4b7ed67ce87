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


class UnexpectedTracerError(RuntimeError):
    """A tracer escaped the function whose trace created it."""


_state = threading.local()


def trace_stack() -> list:
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


_names = itertools.count()


def fresh_name(base: str) -> str:
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in base) or "fn"
    return f"{safe}_{next(_names)}"


_PACKAGE_DIRS = tuple(
    os.path.dirname(os.path.abspath(p))
    for p in (__file__, sys.modules["irgrad.passes.ir"].__file__)
)


def user_frame():
    """(filename, line) of the innermost frame outside irgrad itself."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PACKAGE_DIRS) and "/irgrad/" not in fn.replace("\\", "/") and \
                not fn.startswith("<frozen"):
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
        if self.concrete is not None:
            return self.concrete
        fn, line = user_frame()
        raise ConcretizationTypeError(
            f"Abstract tracer value encountered where concrete value is expected: {what} was called on "
            f"a traced array with shape {self.aval.str_short()} at {fn}:{line}.\n"
            "The problem arose with a value that depends on the arguments of a jitted function. "
            "Use jnp.where or lax.cond for value-dependent choices, or mark the argument static "
            "with static_argnums.")

    def __bool__(self):
        return bool(self._concrete("bool()"))

    def __int__(self):
        return int(self._concrete("int()"))

    def __float__(self):
        return float(self._concrete("float()"))

    def __index__(self):
        return int(self._concrete("__index__()"))

    def __array__(self, dtype=None, copy=None):
        if self.concrete is not None:
            return np.asarray(self.concrete, dtype)
        fn, line = user_frame()
        raise ConcretizationTypeError(
            f"The numpy.ndarray conversion method __array__() was called on traced array with shape "
            f"{self.aval.str_short()} at {fn}:{line}. A traced value cannot become a NumPy array "
            "inside jit; use irgrad.numpy functions instead.")

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

    def __init__(self, name: str, in_avals, concrete_args=None):
        self.name = name
        self.level = len(trace_stack())
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
        with self.module.context:
            return self.block.add_argument(tensor_type(aval.shape, aval.dtype), ir.Location.unknown())

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


def host_value(x):
    """NumPy value of a concrete array-like (irgrad.Array, ndarray, scalar)."""
    if isinstance(x, Tracer):
        return x._concrete("conversion to a host value")
    hv = getattr(x, "_host", None)
    if hv is not None:
        return hv()
    return x


def aval_of(x) -> ShapedArray:
    if isinstance(x, Tracer):
        return x.aval
    dtype, weak = dtypes.dtype_and_weak(x)
    return ShapedArray(tuple(np.shape(x)), np.dtype(dtype), weak)


def trace_function(fun, in_avals, name=None, concrete_args=None):
    """Trace `fun(*tracers)` (flat list in, flat list out) into a Traced function."""
    trace = Trace(fresh_name(name or getattr(fun, "__name__", "fn")), in_avals, concrete_args)
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
