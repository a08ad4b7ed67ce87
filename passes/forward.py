"""Forward mode as an MLIR pass: for @F add @F_jvp.

    @F_jvp(args..., one tangent per wrt arg) -> (results..., one tangent per float result)

The driver clones @F and walks its ops in program order keeping a map from SSA
value to tangent; right after each op whose operands carry tangents it emits the
tangents of its results, asking the rule for the op's name (rules/, by op
family). Only values that depend on a wrt argument (and that a result depends on)
get tangents; a float result with none gets a zero-filled tensor. Integer and bool results get no
tangent at all (JAX gives them float0 tangents, which carry no data), so the
result list holds one tangent per float result, in result order.

Calls are inlined and named linalg ops generalized first (ad.PREPARE), so one
rule covers every linalg structured op. The pass accepts its own output and the
reverse pass's, so jvp-of-vjp (Hessian-vector products), vjp-of-jvp and jvp-of-jvp
are plain inputs.
"""

from __future__ import annotations

from . import scalar_rules as S
from .ad import activity, captured_values, dtype_of_type, explicit_captures, or_zeros, prepare
from .ir import IRError, func, ir, is_float, verify
from .products import expand_products
from .rules import rule_for


class _Ctx:
    """What forward rules see: the active values and the tangents so far."""

    def __init__(self, active, tan):
        self.active = active
        self.tan = tan       # value -> tangent, filled in program order


def jvp(module: ir.Module, name: str, wrt=None, new_name=None, strong_zero=False) -> str:
    """Add @{name}_jvp to `module` and return its name.

    `wrt`: indices of the arguments that take a tangent (all float ones by default);
    `strong_zero`: a zero tangent times any partial gives 0 (see scalar_rules).
    @F_jvp takes F's arguments then one tangent per wrt argument, and returns F's
    results then one tangent per float result (a zero tensor when the result does
    not depend on a wrt argument; integer / bool results get no tangent).

    >>> from irgrad.passes.ir import building
    >>> with building():
    ...     m = ir.Module.parse("func.func @sq(%x: f32) -> f32 { %y = arith.mulf %x, %x : f32  return %y : f32 }")
    ...     jvp(m, "sq")
    'sq_jvp'
    """
    fn = prepare(module, name)
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    n_args = len(ftype.inputs)
    floats = [i for i in range(n_args) if is_float(dtype_of_type(ftype.inputs[i]))]
    wrt = floats if wrt is None else list(wrt)
    for i in wrt:
        if i not in floats:
            raise IRError(f"irgrad forward mode: argument {i} of @{name} is not a float tensor")
    new_name = new_name or f"{name}_jvp"

    with ir.InsertionPoint(module.body):
        g = fn.operation.clone()
    g.attributes["sym_name"] = ir.StringAttr.get(new_name)
    try:
        with S.strong_zero(strong_zero):
            build_jvp(g, ftype, wrt)
    except Exception:
        g.erase()   # leave the module as it was
        raise
    verify(module, f"{name}-jvp")
    return new_name


def build_jvp(g, ftype, wrt) -> None:
    """Turn `g` (a clone of F) into F_jvp in place."""
    n_args = len(ftype.inputs)
    block = g.regions[0].blocks[0]
    explicit_captures(block)
    expand_products(block)
    ops = list(block.operations)
    ret = ops[-1]
    tan_args = [block.add_argument(ftype.inputs[i], ir.Location.unknown()) for i in wrt]
    args = list(block.arguments)[:n_args]
    tan = dict(zip([args[i] for i in wrt], tan_args))
    ctx = _Ctx(activity(g.opview if hasattr(g, "opview") else g, [args[i] for i in wrt], list(ret.operands)), tan)

    for op, after in zip(ops[:-1], ops[1:]):
        if not any(r in ctx.active for r in op.results):
            continue
        ts = [tan.get(v) for v in op.operands]
        if all(t is None for t in ts) and not any(v in tan for v in captured_values(op)):
            continue
        rule = rule_for(op, "forward")
        with ir.InsertionPoint(after):
            for r, t in zip(op.results, rule(ctx, op, ts)):
                if t is not None:
                    tan[r] = t

    float_results = [j for j, t in enumerate(ftype.results) if is_float(dtype_of_type(t))]
    with ir.InsertionPoint(ret):
        results = list(ret.operands)
        func.ReturnOp(results + [or_zeros(tan.get(results[j]), results[j]) for j in float_results])
    ret.erase()
    new_type = ir.FunctionType.get([*ftype.inputs, *[ftype.inputs[i] for i in wrt]],
                                   [*ftype.results, *[ftype.results[j] for j in float_results]])
    g.attributes["function_type"] = ir.TypeAttr.get(new_type)
    for k in ("arg_attrs", "res_attrs"):
        if k in g.attributes:
            del g.attributes[k]
