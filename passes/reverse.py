"""Reverse mode as an MLIR pass: for @F add @F_vjp.

    @F_vjp(args..., one cotangent per seeded result) -> (results..., one cotangent per wrt arg)

The driver clones @F (the forward sweep is F's own body), walks F's ops in reverse
keeping a map from SSA value to cotangent, and asks the rule for each op's name
for the cotangents of its operands. Named linalg ops are generalized first, so a
single rule covers every linalg structured op; calls are inlined first. The pass
accepts its own output (and the forward pass's), so it composes to any order.
"""

from __future__ import annotations

from . import scalar_rules as S
from .ad import (
    activity,
    add_to,
    body_activity,
    captured_values,
    clone_ops,
    domain_extents,
    dtype_of_type,
    elementwise,
    explicit_captures,
    has_function,
    is_constant,
    iterator_types,
    prepare,
    read_operands,
    reduction_count,
    reduction_kinds,
    sum_trailing,
    tensor_type_of,
    unsupported,
    zeros_constant,
    zeros_like,
    zeros_of,
)
from .ir import (
    PARALLEL,
    REDUCTION,
    IRError,
    arith,
    custom_call,
    dtype_of,
    func,
    function_type,
    generic,
    identity_map,
    ir,
    is_float,
    linalg,
    map_dims,
    plain_call,
    projection_map,
    tensor,
    verify,
)
from .products import expand_products

# ------------------------------------------------------------------ scalar bodies

def reverse_scalar_ops(ops, mapping: dict, cot: dict, active: set) -> None:
    """Reverse sweep over scalar (or tensor-typed elementwise) ops.

    `mapping` takes an op's values to the values to compute partials with,
    `cot` maps original values to their accumulated cotangents (added in place).
    """
    for op in reversed(ops):
        results = [r for r in op.results if r in cot]
        name = op.operation.name
        if not results or name in S.NON_DIFFERENTIABLE:  # floor, round, ...: zero derivative
            continue
        d = cot[op.results[0]]
        xs = [mapping.get(v, v) for v in op.operands]
        if name == "arith.select":
            c = xs[0]
            zero = S.const(0.0, d)
            contribs = [None, S.select(c, d, zero), S.select(c, zero, d)]
        elif name in S.CASTS:
            contribs = [S.cast_to(d, xs[0].type)]
        elif name in S.PARTIALS:
            partials = S.PARTIALS[name](xs, mapping.get(op.results[0], op.results[0]))
            contribs = [None if p is None else S.scale(d, p) for p in partials]
        else:
            raise unsupported(op)
        for v, c in zip(op.operands, contribs):
            if v in active:
                add_to(cot, v, c)


# ------------------------------------------------------------ linalg.generic rule

def generic_rule(ctx, gen, dresults):
    """Adjoint of a linalg.generic whose maps are projected permutations.

    For each group of active inputs sharing an indexing map M, one adjoint generic
    runs over the same iteration domain: it recomputes the body, seeds each output's
    cotangent (read through that output's map) and sweeps the body in reverse; dims
    absent from M become reduction iterators, so a broadcast's adjoint is a sum.
    Reductions through `outs` get exact rules: add passes the cotangent through,
    max / min send it to the maximal elements (shared equally among ties, as JAX
    does); products are rewritten as pairwise trees first (passes/products.py).
    """
    block = gen.regions[0].blocks[0]
    ins, outs = list(gen.inputs), list(gen.outputs)
    n_in = len(ins)
    maps = [a.value for a in gen.indexing_maps]
    in_maps, out_maps = maps[:n_in], maps[n_in:]
    n_dims = maps[0].n_dims
    iterators = iterator_types(gen)
    live = [j for j, d in enumerate(dresults) if d is not None]
    kinds, recompute = reduction_kinds(gen, live)
    args = list(block.arguments)
    for j in live:
        if kinds[j][0] == "map" and any(iterators[d] != PARALLEL for d in range(n_dims)
                                         if d not in map_dims(out_maps[j])):
            raise unsupported(gen, f"output {j} is overwritten along a reduction dimension")
    for m in maps:
        if not m.is_projected_permutation:
            raise unsupported(gen, f"indexing map {m} is not a projected permutation")

    results = list(gen.results)
    extra = {}  # j -> list of (tensor, map) auxiliary inputs for max/min/mul seeds
    for j in live:
        if kinds[j][0] in ("max", "min"):
            extra[j] = [results[j], reduction_count(gen, j, kinds, recompute, results[j])]
        elif kinds[j][0] == "mul":
            raise unsupported(gen, f"output {j} is a product reduction (expand_products rewrites those first)")

    active_in = [i for i in range(n_in) if ins[i] in ctx.active and is_float(dtype_of(ins[i]))]
    cotangents = [None] * (n_in + len(outs))
    groups = {}
    for i in active_in:
        groups.setdefault(str(in_maps[i]), []).append(i)
    # IREE 3.13's CPU codegen fails on a multi-result reduction whose zero inits CSE into
    # one tensor ("write affecting operations on global resources ..."), so inputs whose
    # adjoint is a reduction get one generic each.
    groups = [g for ms in groups.values() for g in
              ([ms] if len(map_dims(in_maps[ms[0]])) == n_dims else [[i] for i in ms])]

    aux_ins, aux_maps = [], []
    for j in live:
        aux_ins.append(dresults[j])
        aux_maps.append(out_maps[j])
        for t in extra.get(j, []):
            aux_ins.append(t)
            aux_maps.append(out_maps[j])

    for members in groups:
        m = in_maps[members[0]]
        kept = map_dims(m)
        missing = [d for d in range(n_dims) if d not in kept]
        # IREE 3.13's CPU codegen emits an invalid vector.contract for some sums over
        # several dims (sum_ij a_ij * c_j): write the contributions over the whole
        # domain, then sum one dim per generic (sum_trailing).
        split = len(missing) > 1
        out_map = projection_map(n_dims, kept + missing) if split else m
        iters = [PARALLEL if split or d in kept else REDUCTION for d in range(n_dims)]
        accumulate = len(missing) == 1
        # A scalar input (linalg.fill's value) accumulates its adjoint in a 0-d tensor.
        if split:
            extents = domain_extents(gen)
            inits = [tensor.empty([extents[d] for d in kept + missing], dtype_of(ins[i])) for i in members]
        else:
            inits = [zeros_of(tensor_type_of(ins[i])) if accumulate else tensor.empty(
                ir.RankedTensorType(ins[i].type).shape, dtype_of(ins[i])) for i in members]

        def body(*bargs, members=members, accumulate=accumulate):
            mapping = dict(zip(args[:n_in], bargs[:n_in]))
            clone_ops(recompute, mapping)
            aux = iter(bargs[n_in:n_in + len(aux_ins)])
            cot = {}
            for j in live:
                d = next(aux)
                kind, y, _ = kinds[j]
                target = y
                if kind in ("max", "min"):
                    r, count = next(aux), next(aux)
                    e = mapping.get(y, y)
                    hit = S.select(S.cmp("oeq", e, r), d, S.const(0.0, d))
                    d = arith.divf(hit, count)
                add_to(cot, target, d)
            active = body_activity(block, [args[i] for i in members])
            reverse_scalar_ops(recompute, mapping, cot, active)
            outs_ = []
            for k, i in enumerate(members):
                d = cot.get(args[i])
                if d is None:
                    d = S.const(0.0, bargs[n_in + len(aux_ins) + k])
                outs_.append(arith.addf(bargs[n_in + len(aux_ins) + k], d) if accumulate else d)
            return outs_

        res = generic(ins + aux_ins, in_maps + aux_maps, inits, [out_map] * len(members), iters, body)
        if split:
            res = [sum_trailing(r, len(missing)) for r in res]
        for i, r in zip(members, res):
            cotangents[i] = r if isinstance(ins[i].type, ir.RankedTensorType) else tensor.extract(r, [])

    # Cotangents of the `outs` operands (the accumulators' initial values).
    for j in live:
        k = n_in + j
        if outs[j] not in ctx.active:
            continue
        kind = kinds[j][0]
        if kind == "add":
            cotangents[k] = dresults[j]
        elif kind in ("max", "min"):
            r, count = extra[j]
            cotangents[k] = elementwise(lambda o, rr, c, d: arith.divf(
                S.select(S.cmp("oeq", o, rr), d, S.const(0.0, d)), c), [outs[j], r, count, dresults[j]])
    return cotangents


# ------------------------------------------------------------------ tensor op rules

def _slice_args(op):
    a = op.attributes
    return dict(offsets=list(op.offsets), sizes=list(op.sizes), strides=list(op.strides),
                static_offsets=a["static_offsets"], static_sizes=a["static_sizes"],
                static_strides=a["static_strides"])


def extract_slice_rule(ctx, op, d):
    src = op.operands[0]
    return [tensor.insert_slice(d[0], zeros_constant(src.type), **_slice_args(op))]


def insert_slice_rule(ctx, op, d):
    src = op.operands[0]
    ds = tensor.extract_slice(src.type, d[0], **_slice_args(op))
    dd = tensor.insert_slice(zeros_constant(src.type), d[0], **_slice_args(op))
    return [ds, dd]


def expand_shape_rule(ctx, op, d):
    return [tensor.collapse_shape(op.operands[0].type, d[0], op.attributes["reassociation"])]


def collapse_shape_rule(ctx, op, d):
    shape = ir.RankedTensorType(op.operands[0].type).shape
    return [tensor.expand_shape(op.operands[0].type, d[0], op.attributes["reassociation"], [], shape)]


def concat_rule(ctx, op, d):
    dim = ir.IntegerAttr(op.attributes["dim"]).value
    res_shape = ir.RankedTensorType(op.results[0].type).shape
    out, offset = [], 0
    for v in op.operands:
        shape = ir.RankedTensorType(v.type).shape
        offs = [0] * len(shape)
        offs[dim] = offset
        out.append(tensor.extract_slice(v.type, d[0], [], [], [], offs, shape, [1] * len(shape)))
        offset += shape[dim]
    assert offset == res_shape[dim]
    return out


def cast_rule(ctx, op, d):
    return [tensor.cast(op.operands[0].type, d[0])]


def extract_rule(ctx, op, d):
    """v = x[i, j]: dx = (index == (i, j)) ? dv : 0, one elementwise generic. (IREE 3.13
    fails to compile tensor.insert into a filled tensor at a non-zero offset.)"""
    t = ir.RankedTensorType(op.operands[0].type)
    indices = list(op.operands)[1:]

    def body(_):
        hit = None
        for k, i in enumerate(indices):
            eq = arith.CmpIOp(arith.CmpIPredicate.eq, linalg.IndexOp(k).result, i).result
            hit = eq if hit is None else arith.andi(hit, eq)
        return d[0] if hit is None else S.select(hit, d[0], S.const(0.0, d[0]))

    dx = generic([], [], [tensor.empty(t.shape, t.element_type)], [identity_map(t.rank)], [PARALLEL] * t.rank, body)
    return dx + [None] * len(indices)


def scalar_op_rule(ctx, op, d):
    cot = {op.results[0]: d[0]}
    reverse_scalar_ops([op], {}, cot, ctx.active)
    # `cot` already sums over repeated operands (x * x): report each value once.
    firsts = {v: k for k, v in reversed(list(enumerate(op.operands)))}
    return [cot.get(v) if firsts[v] == k else None for k, v in enumerate(op.operands)]


# ------------------------------------------------------------ custom derivatives

def custom_call_rule(ctx, op, dres):
    """A custom_vjp call: a call of @fwd replaces the primal call (its outputs and the
    residuals), and @bwd maps the results' cotangents to the arguments'. A custom_jvp
    call: the transpose of its jvp rule, @jvp_vjp (added by transpose_custom_jvps),
    taken at zero tangents (the rule is linear in them)."""
    c = custom_call(op)
    if c is None:
        raise unsupported(op, "calls are inlined first; this one calls a function without a body")
    float_res = [j for j, r in enumerate(op.results) if is_float(dtype_of(r))]
    cts = [dres[j] if dres[j] is not None else zeros_like(op.results[j]) for j in float_res]
    float_args = [i for i, a in enumerate(c.args) if is_float(dtype_of(a))]
    if c.kind == "irgrad.custom_vjp":
        outs = plain_call(op, c.rules["fwd"], c.args + c.captures[1], function_type(op, c.rules["fwd"]).results)
        n_out = len(op.results)
        for old, new in zip(op.results, outs[:n_out]):
            old.replace_all_uses_with(new)
        ctx.dead.append(op)
        bwd = c.rules["bwd"]
        grads = func.CallOp(function_type(op, bwd).results, ir.FlatSymbolRefAttr.get(bwd),
                            outs[n_out:] + cts + c.captures[2]).results
    else:
        t = c.rules["transpose"]
        zeros = [zeros_like(c.args[i]) for i in float_args]
        results = func.CallOp(function_type(op, t).results, ir.FlatSymbolRefAttr.get(t),
                              c.args + zeros + c.captures[1] + cts).results
        grads = list(results)[-len(float_args):] if float_args else []
    it = iter(grads)
    return [next(it) if i in float_args else None for i in range(len(c.args))] + \
        [None] * (len(op.operands) - len(c.args))


def transpose_custom_jvps(module, fn, wrt=None) -> bool:
    """Before a reverse walk: give each custom_jvp call in @fn that depends on a `wrt`
    argument its rule's transpose (the reverse pass on @jvp w.r.t. the tangents; made
    once per rule). True if any was added. (A rule that calls its own function does so
    on primals, which its transpose does not differentiate: no endless recursion.)"""
    args = list(fn.entry_block.arguments)
    depends = set(args if wrt is None else [args[i] for i in wrt])
    added = False
    for op in list(fn.entry_block.operations):
        if any(v in depends for v in read_operands(op)):
            depends.update(op.results)
        c = custom_call(op)
        if c is None or c.kind != "irgrad.custom_jvp" or "transpose" in c.rules or \
                not any(a in depends for a in c.args):
            continue
        jvp_name = c.rules["jvp"]
        float_args = [i for i, a in enumerate(c.args) if is_float(dtype_of(a))]
        n_in = len(function_type(op, jvp_name).inputs)
        n_out = len(op.results)
        n_touts = len(function_type(op, jvp_name).results) - n_out
        wrt = [len(c.args) + k for k in range(len(float_args))]
        name = f"{jvp_name}_transpose"
        if not has_function(module, name):
            vjp(module, jvp_name, wrt=wrt, seeds=list(range(n_out, n_out + n_touts)), new_name=name)
        assert n_in == len(c.args) + len(float_args) + c.sizes[2]
        rule = op.attributes[c.kind]
        entries = {rule[i].name: rule[i].attr for i in range(len(rule))}
        entries["transpose"] = ir.FlatSymbolRefAttr.get(name)
        op.attributes[c.kind] = ir.DictAttr.get(entries)
        added = True
    return added


RULES = {
    "func.call": custom_call_rule,
    "linalg.generic": generic_rule,
    "tensor.extract_slice": extract_slice_rule,
    "tensor.insert_slice": insert_slice_rule,
    "tensor.expand_shape": expand_shape_rule,
    "tensor.collapse_shape": collapse_shape_rule,
    "tensor.concat": concat_rule,
    "tensor.cast": cast_rule,
    "tensor.extract": extract_rule,
}
# Elementwise arith / math on whole tensors (or on scalars outside any generic).
for _name in [*S.PARTIALS, *S.CASTS, "arith.select"]:
    RULES.setdefault(_name, scalar_op_rule)



# ------------------------------------------------------------ values read from outside

def reversal_source(gen):
    """The tensor a generic copies reversed along some axes, as `rev` lowers:
    out[i] = src[i'] with i'_k = i_k or (n_k - 1) - i_k, read by tensor.extract. None
    for any other generic."""
    ops = list(gen.regions[0].blocks[0].operations)
    if len(gen.inputs) or len(gen.outputs) != 1 or not all(str(a) == PARALLEL for a in gen.iterator_types):
        return None
    extracts = [op for op in ops if op.operation.name == "tensor.extract"]
    allowed = {"linalg.index", "arith.constant", "arith.subi", "tensor.extract", "linalg.yield"}
    if len(extracts) != 1 or any(op.operation.name not in allowed for op in ops) or \
            ops[-1].operands[0] != extracts[0].results[0]:
        return None
    src, idx = extracts[0].operands[0], list(extracts[0].operands)[1:]
    shape = ir.RankedTensorType(src.type).shape
    if shape != ir.RankedTensorType(gen.results[0].type).shape:
        return None
    for k, v in enumerate(idx):
        if shape[k] == 1 and is_constant(v):   # canonicalized linalg.index of a unit dim
            continue
        owner = None if isinstance(v.owner, ir.Block) else v.owner.operation
        if owner is not None and owner.name == "arith.subi":
            c, v = owner.operands[0], owner.operands[1]
            if not is_constant(c) or ir.IntegerAttr(c.owner.operation.attributes["value"]).value != shape[k] - 1:
                return None
            owner = None if isinstance(v.owner, ir.Block) else v.owner.operation
        if owner is None or owner.name != "linalg.index" or ir.IntegerAttr(owner.attributes["dim"]).value != k:
            return None
    return src


def reversal_rule(ctx, gen, dres) -> list:
    """rev is its own transpose: the cotangent of the source is the reversed cotangent."""
    src = reversal_source(gen)
    if src is None:
        raise unsupported(gen, "its body reads a differentiable value defined outside it")
    new = gen.operation.clone()
    for op in new.regions[0].blocks[0].operations:
        if op.operation.name == "tensor.extract":
            op.operands[0] = dres[0]
    return [(src, new.results[0])]


# ----------------------------------------------------------------------- the driver

class _Ctx:
    def __init__(self, active):
        self.active = active
        self.dead = []      # ops replaced during the walk, erased after it


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
    if transpose_custom_jvps(module, fn, wrt):
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
    cot: dict = {}
    with ir.InsertionPoint(ret):
        for j, c in zip(seeds, cot_args):
            v = results[j]
            if v in active:
                add_to(cot, v, c)
        for op in reversed(list(block.operations)[:-1]):
            live = [r for r in op.results if r in cot]
            if not live:
                continue
            name_ = op.operation.name
            rule = RULES.get(name_)
            if rule is None:
                raise unsupported(op)
            dres = [cot.get(r) for r in op.results]
            if any(v in active for v in captured_values(op)):
                contribs = reversal_rule(ctx, op, dres)   # gathers: only reversals for now
            else:
                contribs = zip(op.operands, rule(ctx, op, dres))
            for v, c in contribs:
                if v in active:
                    add_to(cot, v, c)
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
