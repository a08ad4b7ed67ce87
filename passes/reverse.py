"""Reverse mode as an MLIR pass: for @F add @F_vjp.

    @F_vjp(args..., one cotangent per seeded result) -> (results..., one cotangent per wrt arg)

The driver clones @F (the forward sweep is F's own body), walks F's ops in reverse
keeping a map from SSA value to cotangent, and asks the rule for each op's name
(rules/, by op family) for the cotangents of its operands. Named linalg ops are
generalized first, so a single rule covers every linalg structured op; calls are
inlined first. The pass accepts its own output (and the forward pass's), so it
composes to any order.
"""

from __future__ import annotations

from . import scalar_rules as S
from .ad import activity, add_to, dtype_of_type, explicit_captures, prepare, zeros_like
from .ir import IRError, func, ir, is_float, verify
from .products import expand_products
from .rules import rule_for
from .rules.calls import transpose_custom_jvps


class _Ctx:
    """What reverse rules see: the active values, the cotangents, ops to erase."""

    def __init__(self, active):
        self.active = active
        self.cot = {}       # value -> its cotangent so far
        self.dead = []      # ops replaced during the walk, erased after it

    def add(self, v, c) -> None:
        """Add the contribution `c` (None: none) to the cotangent of `v`, if v is active."""
        if v in self.active:
            add_to(self.cot, v, c)


def vjp(module: ir.Module, name: str, wrt=None, seeds=None, new_name=None, strong_zero=False) -> str:
    """Add @{name}_vjp to `module` and return its name (see _vjp). If a rule or the
    verifier fails, the half-built function is removed: the module stays valid.
    `strong_zero`: a zero cotangent times any partial gives 0 (see scalar_rules)."""
    def named():   # the clone is appended, so it is the last function of its name
        return [op for op in module.body.operations if op.operation.name == "func.func"
                and ir.StringAttr(op.attributes["sym_name"]).value == (new_name or f"{name}_vjp")]
    count = len(named())
    try:
        with S.strong_zero(strong_zero):
            return _vjp(module, name, wrt, seeds, new_name)
    except Exception:
        if len(named()) > count:
            named()[-1].operation.erase()
        raise


def _vjp(module: ir.Module, name: str, wrt=None, seeds=None, new_name=None) -> str:
    """Add @{name}_vjp to `module` and return its name.

    `wrt`: indices of the arguments to differentiate (all float ones by default);
    `seeds`: indices of the results that take a cotangent argument (all by default).
    """
    fn = prepare(module, name)
    if transpose_custom_jvps(module, fn, wrt, vjp):
        fn = prepare(module, name)
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    n_args, n_res = len(ftype.inputs), len(ftype.results)
    wrt = [i for i in range(n_args) if is_float(dtype_of_type(ftype.inputs[i]))] if wrt is None else list(wrt)
    seeds = list(range(n_res)) if seeds is None else list(seeds)
    for i in wrt:
        if not is_float(dtype_of_type(ftype.inputs[i])):
            raise IRError(f"irgrad reverse mode: argument {i} of @{name} is not a float tensor")
    new_name = new_name or f"{name}_vjp"

    with ir.InsertionPoint(module.body):
        g = fn.operation.clone()
    g.attributes["sym_name"] = ir.StringAttr.get(new_name)
    block = g.regions[0].blocks[0]
    explicit_captures(block)
    expand_products(block)
    ret = list(block.operations)[-1]
    results = list(ret.operands)
    cot_args = [block.add_argument(ftype.results[j], ir.Location.unknown()) for j in seeds]
    args = list(block.arguments)[:n_args]
    active = activity(g.opview if hasattr(g, "opview") else g, [args[i] for i in wrt],
                      [results[j] for j in seeds])

    ctx = _Ctx(active)
    cot = ctx.cot
    with ir.InsertionPoint(ret):
        for j, c in zip(seeds, cot_args):
            ctx.add(results[j], c)
        for op in reversed(list(block.operations)[:-1]):
            if any(r in cot for r in op.results):
                rule = rule_for(op, "reverse")
                for v, c in zip(op.operands, rule(ctx, op, [cot.get(r) for r in op.results])):
                    ctx.add(v, c)
        grads = [cot[args[i]] if args[i] in cot else zeros_like(args[i]) for i in wrt]
        func.ReturnOp(list(ret.operands) + grads)    # (re-read: a custom call's results were replaced)
    ret.erase()
    for op in ctx.dead:
        op.operation.erase()
    new_type = ir.FunctionType.get([*ftype.inputs, *[ftype.results[j] for j in seeds]],
                                   [*ftype.results, *[ftype.inputs[i] for i in wrt]])
    g.attributes["function_type"] = ir.TypeAttr.get(new_type)
    if "arg_attrs" in g.attributes or "res_attrs" in g.attributes:
        for k in ("arg_attrs", "res_attrs"):
            if k in g.attributes:
                del g.attributes[k]
    verify(module, f"{name}-vjp")
    return new_name
