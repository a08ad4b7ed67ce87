"""Forward mode as an MLIR pass: for @F add @F_jvp.

    @F_jvp(args..., one tangent per wrt arg) -> (results..., one tangent per float result)

The driver clones @F and walks its ops in program order keeping a map from SSA
value to tangent; right after each op whose operands carry tangents it emits the
tangents of its results, asking the rule for the op's name. Only values that
depend on a wrt argument (and that a result depends on) get tangents; a float
result with none gets a zero-filled tensor. Integer and bool results get no
tangent at all (JAX gives them float0 tangents, which carry no data), so the
result list holds one tangent per float result, in result order.

Calls are inlined and named linalg ops generalized first (ad.PREPARE), so one
rule covers every linalg structured op. The pass accepts its own output and the
reverse pass's, so jvp-of-vjp (Hessian-vector products), vjp-of-jvp and jvp-of-jvp
are plain inputs.
"""

from __future__ import annotations

from . import scalar_rules as S
from .ad import (
    activity,
    all_parallel,
    body_activity,
    captured_values,
    clone_ops,
    dtype_of_type,
    elementwise,
    explicit_captures,
    generic_parts,
    iterator_types,
    or_zeros,
    prepare,
    reduction_count,
    reduction_kinds,
    unsupported,
    zeros_like,
)
from .ir import IRError, arith, custom_call, func, function_type, generic, ir, is_float, tensor, verify
from .products import expand_products

# --------------------------------------------------------------------------- helpers


def total(terms):
    """Sum of the non-None values in `terms` (None when there are none)."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else arith.addf(out, t)
    return out


def or_const_zero(t, like: ir.Value) -> ir.Value:
    """`t`, or a zero scalar of `like`'s type (inside a generic's body)."""
    return t if t is not None else S.const(0.0, like)


# ------------------------------------------------------------------ scalar bodies

def scalar_tangent(op, xs, y, ts):
    """Tangent of a scalar (or elementwise tensor) op's result: sum_i partial_i * t_i.

    `xs` are the operands to compute partials with, `y` the result, `ts` the operand
    tangents (None for zero). arith.select is linear in its two values; a cast maps
    the tangent through the same cast; NON_DIFFERENTIABLE ops give no tangent.
    """
    name = op.operation.name
    if name in S.NON_DIFFERENTIABLE:
        return None
    if name == "tensor.extract":   # a gather from a tensor defined outside the body
        return None if ts[0] is None else tensor.extract(ts[0], xs[1:])
    if name == "arith.select":
        if ts[1] is None and ts[2] is None:
            return None
        zero = S.const(0.0, y)
        return S.select(xs[0], zero if ts[1] is None else ts[1], zero if ts[2] is None else ts[2])
    if name in S.CASTS:
        return S.cast_to(ts[0], y.type)
    if name not in S.PARTIALS:
        raise unsupported(op, mode="forward")
    partials = S.PARTIALS[name](xs, y)
    return total(None if t is None or p is None else S.scale(t, p) for t, p in zip(ts, partials))


def forward_scalar_ops(ops, mapping: dict, tan: dict) -> None:
    """Forward sweep: for each op with a tangent operand, record its result's tangent
    in `tan` (keyed by original values; `mapping` gives the values to compute with)."""
    for op in ops:
        ts = [tan.get(v) for v in op.operands]
        if all(t is None for t in ts) or not op.results or not is_float(dtype_of_type(op.results[0].type)):
            continue
        xs = [mapping.get(v, v) for v in op.operands]
        t = scalar_tangent(op, xs, mapping.get(op.results[0], op.results[0]), ts)
        if t is not None:
            tan[op.results[0]] = t


# ------------------------------------------------------------ linalg.generic rule

def parallel_generic_rule(ctx, gen, ts, outer):
    """A generic with only parallel iterators: the primal op stays as it is, and one
    tangent generic recomputes its body from the same inputs and reads each tangent
    through its primal's indexing map. (Keeping the primal apart keeps it independent
    of the tangents, so a batched jvp, as in jacfwd, leaves it unbatched; IREE fuses
    the two again.)

    Any maps work (the tangent is read where the primal is). An `outs` value the body
    reads (x * init) comes in as an input with the output's map, its tangent likewise,
    and every output starts from an empty tensor: each output of the new generic is a
    plain map, which both passes accept again.
    """
    block, args, ops, in_maps, out_maps = generic_parts(gen)
    ins, outs = list(gen.inputs), list(gen.outputs)
    n_in, n_out = len(ins), len(outs)
    t_in = [i for i in range(n_in) if ts[i] is not None]
    read = [j for j in range(n_out) if list(args[n_in + j].uses)]
    t_acc = [j for j in read if ts[n_in + j] is not None]
    seeds = [args[i] for i in t_in] + [args[n_in + j] for j in t_acc]
    yielded = list(ops[-1].operands)
    active = body_activity(block, [*outer, *seeds])
    want = [j for j in range(n_out) if gen.results[j] in ctx.active and yielded[j] in active]
    if not want:
        return [None] * n_out
    new_ins = ins + [outs[j] for j in read] + [ts[i] for i in t_in] + [ts[n_in + j] for j in t_acc]
    new_maps = in_maps + [out_maps[j] for j in read] + [in_maps[i] for i in t_in] + [out_maps[j] for j in t_acc]
    empty = lambda v: tensor.empty(list(ir.RankedTensorType(v.type).shape), dtype_of_type(v.type))
    inits = [empty(outs[j]) for j in want]

    def body(*bargs):
        k = n_in + len(read)
        mapping = dict(zip(args[:n_in] + [args[n_in + j] for j in read], bargs[:k]))
        tan = {**outer, **dict(zip(seeds, bargs[k:len(new_ins)]))}
        clone_ops(ops[:-1], mapping)
        forward_scalar_ops(ops[:-1], mapping, tan)
        primal = [mapping.get(v, v) for v in yielded]
        return [or_const_zero(tan.get(yielded[j]), primal[j]) for j in want]

    res = generic(new_ins, new_maps, inits, [out_maps[j] for j in want], iterator_types(gen),
                  body, [gen.results[j].type for j in want])
    tangents = [None] * n_out
    for k, j in enumerate(want):
        tangents[j] = res[k]
    return tangents


def reduction_generic_rule(ctx, gen, ts, outer):
    """A generic with reduction iterators: one tangent generic per output, over the
    same iteration domain, recomputing the body and reading tangents through the
    primal maps. Per output kind (see reduction_kinds), with e the reduced
    expression, t_e its tangent and init the accumulator's initial value:

      map:  t_y from the body's forward sweep
      add:  t_out = t_init + sum t_e
      max / min (JAX's rule, ties share equally):
            t_out = sum(t * (x == out)) / count(x == out) over x in {init, e...}
      mul:  rewritten as a pairwise tree first (passes/products.py)
    """
    block, args, ops, in_maps, out_maps = generic_parts(gen)
    ins, outs = list(gen.inputs), list(gen.outputs)
    n_in = len(ins)
    kinds, recompute = reduction_kinds(gen, [j for j, r in enumerate(gen.results) if r in ctx.active], "forward")
    t_in = [i for i in range(n_in) if ts[i] is not None]
    active = body_activity(block, [*outer, *[args[i] for i in t_in]])
    iterators = iterator_types(gen)

    def tangent_generic(j, aux, init, combine):
        """sum over the domain of combine(e, t_e, *aux) into `init`, t_e the tangent of
        output j's expression; aux tensors are read through output j's map."""
        y = kinds[j][1]
        t_ins = [ts[i] for i in t_in]
        n_new = n_in + len(t_ins) + len(aux)

        def body(*bargs):
            mapping = dict(zip(args[:n_in], bargs[:n_in]))
            tan = {**outer, **dict(zip([args[i] for i in t_in], bargs[n_in:n_in + len(t_ins)]))}
            clone_ops(recompute, mapping)
            forward_scalar_ops(recompute, mapping, tan)
            e = mapping.get(y, y)
            term = combine(e, or_const_zero(tan.get(y), e), *bargs[n_in + len(t_ins):n_new])
            return term if kinds[j][0] == "map" else arith.addf(term, bargs[n_new])

        return generic(ins + t_ins + aux, in_maps + [in_maps[i] for i in t_in] + [out_maps[j]] * len(aux),
                       [init], [out_maps[j]], iterators, body)[0]

    tangents = [None] * len(outs)
    for j, (kind, y, _) in enumerate(kinds):
        if gen.results[j] not in ctx.active or kind == "other":
            continue
        t_init, live = ts[n_in + j], y in active
        if not live and (kind == "map" or t_init is None):
            continue
        if kind == "map":
            empty = tensor.empty(list(ir.RankedTensorType(outs[j].type).shape), dtype_of_type(outs[j].type))
            tangents[j] = tangent_generic(j, [], empty, lambda e, t: t)
        elif kind == "add":
            tangents[j] = tangent_generic(j, [], or_zeros(t_init, outs[j]), lambda e, t: t) if live else t_init
        elif kind in ("max", "min"):
            tangents[j] = chooser_tangent(gen, j, kinds, recompute, t_init, live, tangent_generic)
        else:
            raise unsupported(gen, f"output {j} is a product reduction (expand_products rewrites those first)",
                              "forward")
    return tangents


def chooser_tangent(gen, j, kinds, recompute, t_init, live, tangent_generic):
    """max / min: the mean of the tangents of the elements that attain the result."""
    r, out = gen.results[j], gen.outputs[j]
    count = reduction_count(gen, j, kinds, recompute, r)
    init = zeros_like(out) if t_init is None else elementwise(
        lambda o, rr, t: S.select(S.cmp("oeq", o, rr), t, S.const(0.0, t)), [out, r, t_init])
    if live:
        init = tangent_generic(j, [r], init, lambda e, t, rr: S.select(S.cmp("oeq", e, rr), t, S.const(0.0, t)))
    return elementwise(arith.divf, [init, count])


def outer_tangents(ctx, gen) -> dict:
    """Tangents of the tensors the body gathers from (tensor.extract of a value
    defined outside it): the tangent of a gather is the same gather from the tangent."""
    outer = {v: ctx.tan[v] for v in captured_values(gen) if v in ctx.tan}
    for op in gen.regions[0].blocks[0].operations:
        if any(v in outer and (op.operation.name != "tensor.extract" or k) for k, v in enumerate(op.operands)):
            raise unsupported(gen, "its body reads a differentiable value defined outside it other than by "
                                   "tensor.extract", "forward")
    return outer


def generic_rule(ctx, gen, ts):
    """Tangents of a linalg.generic's results (see the two cases above)."""
    outer = outer_tangents(ctx, gen)
    if all_parallel(gen):
        return parallel_generic_rule(ctx, gen, ts, outer)
    return reduction_generic_rule(ctx, gen, ts, outer)


# ------------------------------------------------------------------ tensor op rules

def same_op(data_operands):
    """Rule for an op linear in its data operands: the same op applied to their
    tangents (zeros for operands without one); index operands are kept."""
    def rule(ctx, op, ts):
        positions = data_operands(op)
        new_operands = {k: or_zeros(ts[k], op.operands[k]) for k in positions}
        new = op.operation.clone()
        for k, v in new_operands.items():
            new.operands[k] = v
        return list(new.results)
    return rule


def _first(op):
    return [0]


def _first_two(op):
    return [0, 1]


def _all(op):
    return list(range(len(op.operands)))


def scalar_op_rule(ctx, op, ts):
    return [scalar_tangent(op, list(op.operands), op.results[0], ts)]


def custom_call_rule(ctx, op, ts):
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


RULES = {
    "func.call": custom_call_rule,
    "linalg.generic": generic_rule,
    "tensor.extract_slice": same_op(_first),
    "tensor.insert_slice": same_op(_first_two),
    "tensor.expand_shape": same_op(_first),
    "tensor.collapse_shape": same_op(_first),
    "tensor.concat": same_op(_all),
    "tensor.cast": same_op(_first),
    "tensor.extract": same_op(_first),
    "tensor.insert": same_op(_first_two),
}
# Elementwise arith / math on whole tensors (or on scalars outside any generic).
for _name in [*S.PARTIALS, *S.CASTS, "arith.select"]:
    RULES.setdefault(_name, scalar_op_rule)


# ----------------------------------------------------------------------- the driver

class _Ctx:
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
        rule = RULES.get(op.operation.name)
        if rule is None:
            raise unsupported(op, mode="forward")
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
