"""The one place irgrad imports the MLIR Python bindings, plus small IR builders.

Every other module takes `ir`, the dialects and these helpers from here, so the
builders the frontend lowers with are the same ones the passes emit adjoints with.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
from iree.compiler import ir
from iree.compiler.dialects import arith, func, linalg, math, tensor
from iree.compiler.passmanager import PassManager
from irgrad.runtime.errors import IRError, dump_ir

__all__ = [
    "ir", "arith", "func", "linalg", "math", "tensor", "PassManager", "IRError",
    "context", "elem_type", "np_dtype", "tensor_type", "shape_of", "dtype_of",
    "generic", "empty", "fill", "constant", "scalar_constant", "identity_map",
    "projection_map", "collapse", "expand", "verify", "run_pipeline",
    "PARALLEL", "REDUCTION", "STOP_GRADIENT", "is_stop_gradient", "stop_gradient_op",
    "strip_markers", "CustomCall", "custom_call", "emit_custom_call", "plain_call", "function_type",
    "SELF_CALL", "emit_self_call", "resolve_self_calls",
]

_local = threading.local()


def context() -> ir.Context:
    """The thread's MLIR context, created on first use (MLIR contexts are not shared
    across threads)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = _local.ctx = ir.Context()
        ctx.allow_unregistered_dialects = False
    return ctx


@contextlib.contextmanager
def building():
    """Enter the thread's context with an unknown location."""
    with context(), ir.Location.unknown():
        yield


_NP_TO_MLIR = {
    np.dtype(np.float32): lambda: ir.F32Type.get(),
    np.dtype(np.float64): lambda: ir.F64Type.get(),
    np.dtype(np.float16): lambda: ir.F16Type.get(),
    np.dtype(np.int32): lambda: ir.IntegerType.get_signless(32),
    np.dtype(np.int64): lambda: ir.IntegerType.get_signless(64),
    np.dtype(np.int8): lambda: ir.IntegerType.get_signless(8),
    np.dtype(np.int16): lambda: ir.IntegerType.get_signless(16),
    np.dtype(np.uint32): lambda: ir.IntegerType.get_signless(32),
    np.dtype(np.uint16): lambda: ir.IntegerType.get_signless(16),
    np.dtype(np.uint8): lambda: ir.IntegerType.get_signless(8),
    np.dtype(np.bool_): lambda: ir.IntegerType.get_signless(1),
}


def elem_type(dtype) -> ir.Type:
    """MLIR element type of a NumPy dtype (unsigned ints are signless in MLIR)."""
    return _NP_TO_MLIR[np.dtype(dtype)]()


def np_dtype(t: ir.Type) -> np.dtype:
    """NumPy dtype of an MLIR element type (signless ints read as signed)."""
    if isinstance(t, ir.F32Type):
        return np.dtype(np.float32)
    if isinstance(t, ir.F64Type):
        return np.dtype(np.float64)
    if isinstance(t, ir.F16Type):
        return np.dtype(np.float16)
    if isinstance(t, ir.IntegerType):
        width = ir.IntegerType(t).width
        return np.dtype(np.bool_) if width == 1 else np.dtype(f"int{width}")
    raise TypeError(f"irgrad: unsupported MLIR element type {t}")


def tensor_type(shape, dtype_or_type) -> ir.RankedTensorType:
    t = dtype_or_type if isinstance(dtype_or_type, ir.Type) else elem_type(dtype_or_type)
    return ir.RankedTensorType.get(list(shape), t)


def shape_of(v: ir.Value) -> tuple[int, ...]:
    return tuple(ir.RankedTensorType(v.type).shape)


def dtype_of(v: ir.Value) -> ir.Type:
    """Element type of a tensor value, or the type of a scalar value."""
    if isinstance(v.type, ir.RankedTensorType):
        return ir.RankedTensorType(v.type).element_type
    return v.type


def is_float(t: ir.Type) -> bool:
    return isinstance(t, ir.FloatType)


PARALLEL = "#linalg.iterator_type<parallel>"
REDUCTION = "#linalg.iterator_type<reduction>"


def identity_map(rank: int) -> ir.AffineMap:
    return ir.AffineMap.get_identity(rank)


def projection_map(rank: int, dims) -> ir.AffineMap:
    """(d0, ..., d{rank-1}) -> (d{dims[0]}, d{dims[1]}, ...)."""
    return ir.AffineMap.get(rank, 0, [ir.AffineDimExpr.get(d) for d in dims])


def map_dims(m: ir.AffineMap) -> list[int]:
    """Positions of a projected permutation's results: (d1, d0) -> [1, 0]."""
    return [ir.AffineDimExpr(r).position for r in m.results]


def generic(ins, in_maps, inits, out_maps, iterators, body, result_types=None):
    """Build a linalg.generic. `body(*block_args)` returns the values to yield.

    `iterators` is a list of PARALLEL / REDUCTION strings; block arguments are the
    element types of the inputs then the outputs.
    """
    result_types = result_types or [v.type for v in inits]
    maps = ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in [*in_maps, *out_maps]])
    iters = ir.ArrayAttr.get([ir.Attribute.parse(i) for i in iterators])
    op = linalg.GenericOp(result_types, list(ins), list(inits), maps, iters)
    block = op.regions[0].blocks.append(*[dtype_of(v) for v in [*ins, *inits]])
    with ir.InsertionPoint(block):
        yielded = body(*block.arguments)
        linalg.YieldOp(list(yielded) if isinstance(yielded, (list, tuple)) else [yielded])
    return list(op.results)


def empty(shape, t: ir.Type) -> ir.Value:
    return tensor.empty(list(shape), t)


def scalar_constant(value, t: ir.Type) -> ir.Value:
    if is_float(t):
        return arith.constant(t, ir.FloatAttr.get(t, float(value)))
    if ir.IntegerType(t).width == 1:
        return arith.constant(t, ir.IntegerAttr.get(t, int(bool(value))))
    return arith.constant(t, ir.IntegerAttr.get(t, int(value)))


def fill(value, shape, t: ir.Type) -> ir.Value:
    """A tensor of `shape` filled with the Python number `value`."""
    scalar = value if isinstance(value, ir.Value) else scalar_constant(value, t)
    return linalg.fill(scalar, outs=[empty(shape, t)])


def constant(array: np.ndarray, t: ir.Type | None = None) -> ir.Value:
    """A dense tensor constant holding `array` (converted to the element type `t`)."""
    array = np.asarray(array)
    t = t or elem_type(array.dtype)
    ttype = tensor_type(array.shape, t)
    if array.size and np.all(array == array.reshape(-1)[0]):
        first = array.reshape(-1)[0]
        attr = ir.FloatAttr.get(t, float(first)) if is_float(t) else ir.IntegerAttr.get(t, int(first))
        return arith.constant(ttype, ir.DenseElementsAttr.get_splat(ttype, attr))
    data = array if array.dtype == np.bool_ else array.astype(np_dtype(t))
    attr = ir.DenseElementsAttr.get(np.ascontiguousarray(data), type=ttype)
    return arith.constant(ttype, attr)


def collapse(v: ir.Value, reassociation, shape) -> ir.Value:
    return tensor.collapse_shape(tensor_type(shape, dtype_of(v)), v, reassociation)


def expand(v: ir.Value, reassociation, shape) -> ir.Value:
    return tensor.expand_shape(tensor_type(shape, dtype_of(v)), v, reassociation, [], list(shape))


def reshape(v: ir.Value, shape) -> ir.Value:
    """Any static reshape, as a collapse to rank 1 followed by an expand."""
    src, shape = shape_of(v), tuple(shape)
    if src == shape:
        return v
    size = int(np.prod(src))
    if len(src) == 0:
        flat = expand(v, [], (1,))
    elif len(src) == 1:
        flat = v
    else:
        flat = collapse(v, [list(range(len(src)))], (size,))
    if len(shape) == 0:
        return collapse(flat, [], ())
    if len(shape) == 1:
        return flat
    return expand(flat, [list(range(len(shape)))], shape)


def verify(module: ir.Module, what: str) -> None:
    """Verify `module`; on failure raise IRError with the IR written to a file."""
    try:
        module.operation.verify()
    except ir.MLIRError as e:
        path = dump_ir(str(module), what)
        raise IRError(f"irgrad: MLIR verification failed for {what}: {e}\nIR written to {path}") from None


def run_pipeline(module: ir.Module, pipeline: str, what: str) -> None:
    """Run an upstream pass pipeline, turning MLIR errors into IRError."""
    try:
        PassManager.parse(pipeline).run(module.operation)
    except (ir.MLIRError, RuntimeError) as e:
        path = dump_ir(str(module), what)
        raise IRError(f"irgrad: pass pipeline failed for {what}: {e}\nIR written to {path}") from None


# ------------------------------------------------------------------ marker ops

# stop_gradient is `%y = func.call @irgrad.stop_gradient.<type>(%x)`, a call to an
# external declaration: y equals x and carries no derivative. A call to a function
# without a body is never inlined or folded away, so the marker survives every
# cleanup until `strip_markers` replaces it by its operand before IREE. The reverse
# and forward passes treat it as inactive; the batching pass maps it through.
STOP_GRADIENT = "irgrad.stop_gradient"


def function_type(anchor, name: str) -> ir.FunctionType:
    """The type of function @name in the module that holds op `anchor`."""
    op = anchor.operation
    while op.name != "builtin.module":
        op = op.parent
    for f in op.regions[0].blocks[0].operations:
        if f.operation.name == "func.func" and f.attributes["sym_name"].value == name:
            return ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
    raise IRError(f"irgrad: no function @{name} in the module")


def _module_of_insertion_point():
    op = ir.InsertionPoint.current.block.owner.operation
    while op.name != "builtin.module":
        op = op.parent
    return op


def is_stop_gradient(op) -> bool:
    """Whether `op` is the stop_gradient marker call."""
    return op.operation.name == "func.call" and op.attributes["callee"].value.startswith(STOP_GRADIENT + ".")


def stop_gradient_op(v: ir.Value) -> ir.Value:
    """Emit the stop_gradient marker on `v` at the insertion point (declaring it in the
    enclosing module once per type)."""
    name = STOP_GRADIENT + "." + "".join(c if c.isalnum() else "_" for c in str(v.type))
    module = _module_of_insertion_point()
    body = module.regions[0].blocks[0]
    if not any(op.operation.name == "func.func" and op.attributes["sym_name"].value == name
               for op in body.operations):
        with ir.InsertionPoint.at_block_begin(body), ir.Location.unknown():
            decl = func.FuncOp(name, ir.FunctionType.get([v.type], [v.type]))
            decl.attributes["sym_visibility"] = ir.StringAttr.get("private")
    return func.CallOp([v.type], ir.FlatSymbolRefAttr.get(name), [v]).results[0]


# A function with a custom derivative (irgrad.custom_vjp / custom_jvp) is a call of
# its primal that the inliner leaves alone (`no_inline`), carrying the rule:
#
#   %y = call @f(%args, %caps...) <no_inline> {irgrad.custom_vjp = {fwd = @f_fwd,
#            bwd = @f_bwd, sizes = array<i64: n_args, n_primal, n_fwd, n_bwd>}}
#
# Operands: the n_args arguments, then the values the primal, fwd and bwd functions
# captured (n_primal, n_fwd, n_bwd of them; the primal takes all and ignores the
# others'). @f_fwd(args, fwd captures) -> (y..., residuals...);
# @f_bwd(residuals..., one cotangent per float result, bwd captures) -> one cotangent
# per float argument. For custom_jvp: {jvp = @f_jvp, sizes = array<i64: n_args,
# n_primal, n_jvp>} with @f_jvp(args, one tangent per float argument, jvp captures)
# -> (y..., one tangent per float result). The passes call the rules instead of
# differentiating @f; `strip_markers` turns the call into a plain one before IREE.
CUSTOM_KINDS = ("irgrad.custom_vjp", "irgrad.custom_jvp")


class CustomCall:
    """The parts of a custom-derivative call (see above)."""

    def __init__(self, op, kind, rule: dict):
        self.op, self.kind = op, kind
        self.rules = {k: v for k, v in rule.items() if k != "sizes"}
        self.sizes = list(rule["sizes"])
        operands = list(op.operands)
        self.args = operands[:self.sizes[0]]
        rest = operands[self.sizes[0]:]
        self.captures = []
        for n in self.sizes[1:]:
            self.captures.append(rest[:n])
            rest = rest[n:]


def custom_call(op):
    """A CustomCall if `op` is a custom-derivative call, else None."""
    if op.operation.name != "func.call":
        return None
    for kind in CUSTOM_KINDS:
        if kind in op.attributes:
            d = op.attributes[kind]
            rule = {d[i].name: d[i].attr for i in range(len(d))}
            rule = {k: (v.value if isinstance(v, ir.FlatSymbolRefAttr) else v) for k, v in rule.items()}
            return CustomCall(op, kind, rule)
    return None


def emit_custom_call(callee: str, result_types, operands, kind: str, rules: dict, sizes) -> list:
    """Emit a custom-derivative call at the insertion point (see above)."""
    call = func.CallOp(list(result_types), ir.FlatSymbolRefAttr.get(callee), list(operands))
    call.operation.attributes["no_inline"] = ir.UnitAttr.get()
    attrs = {k: ir.FlatSymbolRefAttr.get(v) for k, v in rules.items()}
    attrs["sizes"] = ir.DenseI64ArrayAttr.get([int(n) for n in sizes])
    call.operation.attributes[kind] = ir.DictAttr.get(attrs)
    return list(call.results)


# A custom function called inside one of its own rules, with the arguments the rules
# are traced for, is a call of its primal marked `irgrad.custom_self` until the rules
# exist; then `resolve_self_calls` gives it those rules (a rule may refer to itself).
# So, as in JAX, the value `f(x)` that a fwd rule returns keeps f's rule when the
# derivative is differentiated again.
SELF_CALL = "irgrad.custom_self"


def emit_self_call(callee: str, result_types, operands) -> list:
    """Emit a marked call of @callee at the insertion point (see above)."""
    call = func.CallOp(list(result_types), ir.FlatSymbolRefAttr.get(callee), list(operands))
    call.operation.attributes["no_inline"] = ir.UnitAttr.get()
    call.operation.attributes[SELF_CALL] = ir.UnitAttr.get()
    return list(call.results)


def resolve_self_calls(module: ir.Module, fn_names, kind: str, rules: dict, sizes) -> None:
    """Turn the marked calls in the functions `fn_names` into custom calls with `rules`."""
    attrs = {k: ir.FlatSymbolRefAttr.get(v) for k, v in rules.items()}
    attrs["sizes"] = ir.DenseI64ArrayAttr.get([int(n) for n in sizes])
    for fn in module.body.operations:
        if fn.operation.name != "func.func" or fn.attributes["sym_name"].value not in fn_names:
            continue
        for op in fn.regions[0].blocks[0].operations:
            if SELF_CALL in op.attributes:
                del op.attributes[SELF_CALL]
                op.attributes[kind] = ir.DictAttr.get(attrs)


def plain_call(op, callee: str, operands, result_types=None) -> list:
    """A plain func.call of @callee placed before `op`."""
    with ir.InsertionPoint(op), op.location:
        types = list(result_types) if result_types is not None else [r.type for r in op.results]
        return list(func.CallOp(types, ir.FlatSymbolRefAttr.get(callee), list(operands)).results)


def strip_markers(module: ir.Module) -> None:
    """Before IREE: replace every stop_gradient marker by its operand (dropping the
    declarations) and every custom-derivative call by a plain call of its primal."""
    for fn in list(module.body.operations):
        if fn.operation.name == "func.func" and fn.attributes["sym_name"].value.startswith(STOP_GRADIENT + "."):
            fn.operation.erase()
            continue
        for region in fn.regions:
            for block in region.blocks:
                for op in list(block.operations):
                    if is_stop_gradient(op):
                        op.results[0].replace_all_uses_with(op.operands[0])
                        op.operation.erase()
                    elif custom_call(op) is not None or SELF_CALL in op.attributes:
                        new = plain_call(op, op.attributes["callee"].value, op.operands)
                        for old, r in zip(op.results, new):
                            old.replace_all_uses_with(r)
                        op.operation.erase()
