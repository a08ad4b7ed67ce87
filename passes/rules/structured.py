"""linalg structured ops: every named linalg op is generalized first (ad.PREPARE), so
one rule per mode covers linalg.generic: maps, broadcasts, transposes, contractions,
and add / max / min / product reductions through the `outs` accumulator.

Reverse mode writes one adjoint generic per group of inputs sharing an indexing map;
forward mode one tangent generic per output kind; batching adds a leading parallel
dimension. A generic whose body gathers from a tensor defined outside it is a gather
(rules/gathers.py).
"""

from __future__ import annotations

from collections import ChainMap

from .. import scalar_rules as S
from ..ad import (
    add_to,
    all_parallel,
    body_activity,
    captured_values,
    clone_op,
    clone_ops,
    domain_extents,
    dtype_of_type,
    elementwise,
    generic_parts,
    iterator_types,
    or_zeros,
    reduction_count,
    reduction_kinds,
    sum_trailing,
    tensor_type_of,
    unsupported,
    zeros_like,
    zeros_of,
)
from ..batch_core import Batch, batch_map, shift_map
from ..ir import (
    PARALLEL,
    REDUCTION,
    arith,
    dtype_of,
    generic,
    ir,
    is_float,
    map_dims,
    projection_map,
    tensor,
)
from .elementwise import forward_scalar_ops, or_const_zero, reverse_scalar_ops
from .gathers import batch_gather, gather_reverse, outer_tangents
from .registry import rule

# --------------------------------------------------------------------------- reverse

def generic_reverse(ctx, gen, dresults):
    """Adjoint of a linalg.generic whose maps are projected permutations.

    For each group of active inputs sharing an indexing map M, one adjoint generic
    runs over the same iteration domain: it recomputes the body, seeds each output's
    cotangent (read through that output's map) and sweeps the body in reverse; dims
    absent from M become reduction iterators, so a broadcast's adjoint is a sum.
    Reductions through `outs` get exact rules: add passes the cotangent through,
    max / min send it to the maximal elements (shared equally among ties, as JAX
    does); products are rewritten as pairwise trees first (passes/products.py).
    """
    if any(v in ctx.active for v in captured_values(gen)):
        return gather_reverse(ctx, gen, dresults, generic_reverse)
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


# --------------------------------------------------------------------------- forward

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


def generic_forward(ctx, gen, ts):
    """Tangents of a linalg.generic's results (see the two cases above)."""
    outer = outer_tangents(ctx, gen)
    if all_parallel(gen):
        return parallel_generic_rule(ctx, gen, ts, outer)
    return reduction_generic_rule(ctx, gen, ts, outer)


# --------------------------------------------------------------------------- batching

def generic_batch(b: Batch, gen) -> list:
    """Batch a linalg.generic: a new leading parallel dimension d0 over the batch.

    Batched operands read through (d0, R(d1..dn)), unbatched inputs through R(d1..dn)
    (a broadcast along the batch); every output is batched (an unbatched init is
    broadcast, unless it is only written). Batched scalars the body reads from outside
    become inputs read through (d0); a batched tensor the body reads with tensor.extract
    gets linalg.index 0 as its first index. linalg.index k becomes linalg.index k + 1.
    """
    n_in = len(gen.inputs)
    block = gen.regions[0].blocks[0]
    args = list(block.arguments)
    maps = [a.value for a in gen.indexing_maps]
    n_dims = maps[0].n_dims
    ins, in_maps = [], []
    for v, m in zip(gen.inputs, maps[:n_in]):
        ins.append(b.get(v))
        in_maps.append(batch_map(m) if b.is_batched(v) else shift_map(m))
    outside = [v for v in captured_values(gen) if b.is_batched(v)]
    scalars = [v for v in outside if not isinstance(v.type, ir.ShapedType)]
    tensors = set(outside) - set(scalars)
    d0_only = projection_map(n_dims + 1, [0])
    outs = [b.moved(v) if b.is_batched(v) or list(a.uses) else b.empty(v) for v, a in zip(gen.outputs, args[n_in:])]
    out_maps = [batch_map(m) for m in maps[n_in:]]
    iterators = [PARALLEL, *iterator_types(gen)]

    def body(*bargs):
        values = dict(zip(args[:n_in], bargs[:n_in]))
        values.update(zip(scalars, bargs[n_in:n_in + len(scalars)]))
        values.update(zip(args[n_in:], bargs[n_in + len(scalars):]))
        ops = list(block.operations)
        for op in ops[:-1]:
            if op.operation.name == "tensor.extract" and op.operands[0] in tensors:
                values[op.results[0]] = batch_gather(b, op, values)
                continue
            if any(v in tensors for v in [*op.operands, *captured_values(op)]):
                raise unsupported(gen, f"its body reads a batched tensor through '{op.operation.name}'", "batch")
            new = clone_op(op, ChainMap(values, b.values), shift_index=1)
            values.update(zip(op.results, new.results))
        return [values.get(v, b.get(v)) for v in ops[-1].operands]

    result_types = [o.type for o in outs]
    return generic(ins + [b.get(v) for v in scalars], in_maps + [d0_only] * len(scalars), outs, out_maps,
                   iterators, body, result_types)


rule("linalg.generic", reverse=generic_reverse, forward=generic_forward, batch=generic_batch)
