"""Product reductions as pairwise trees, so that their derivatives are exact to every order.

A linalg.generic that reduces through its accumulator with `arith.mulf`,

    out[k] = init[k] * prod_r e(k, r)

has the first derivative d out / d e_r = init * prod_{r' != r} e_r', which a rule can
compute from the product of the non-zero elements and the number of zeros. But that
closed form has constant branches (0 where two elements are zero, ...) whose own
derivatives vanish, so the second derivative at inputs holding a zero comes out wrong
and asymmetric, and each further order needs yet another form. JAX defines the
derivative of reduce_prod through a pairwise tree of multiplies instead; every
derivative of a tree, at every order, is exact with zeros (only `mulf` partials).

`expand_products` rewrites each such output, before either pass differentiates a
function, into: a parallel generic that writes e over the whole iteration domain
(kept dims first, in the output's order, then the reduced ones), a collapse of the
reduced dims to one of n elements, ceil(log2 n) elementwise multiplies of the even
and odd halves, and a multiply by init. The primal value is the same product taken in
another order (as JAX's reduce_prod on CPU).
"""

from __future__ import annotations

import numpy as np

from .ad import clone_ops, domain_extents, iterator_types
from .ir import (
    PARALLEL,
    REDUCTION,
    IRError,
    arith,
    dtype_of,
    generic,
    identity_map,
    ir,
    map_dims,
    projection_map,
    reshape,
    tensor,
)


def product_tree(v: ir.Value, mul=arith.mulf) -> ir.Value:
    """The product of `v` (shape [..., n]) over its last dim, as a pairwise tree:
    x[..., 0::2] * x[..., 1::2] (the odd one out carried along) until one is left.
    For n = 5: [x0*x1, x2*x3, x4] -> [(x0*x1)*(x2*x3), x4] -> [((x0*x1)*(x2*x3))*x4]."""
    t = ir.RankedTensorType(v.type)
    et, shape = t.element_type, list(t.shape)
    keep, n = shape[:-1], shape[-1]
    r = len(shape)
    if n == 0:
        one = ir.FloatAttr.get(et, 1.0) if isinstance(et, ir.FloatType) else ir.IntegerAttr.get(et, 1)
        out_t = ir.RankedTensorType.get(keep, et)
        return arith.constant(out_t, ir.DenseElementsAttr.get_splat(out_t, one))
    idm = identity_map(r)

    def take(start, count, stride):
        return tensor.extract_slice(ir.RankedTensorType.get(keep + [count], et), v, [], [], [],
                                    [0] * (r - 1) + [start], keep + [count], [1] * (r - 1) + [stride])
    while n > 1:
        half = n // 2
        pairs = generic([take(0, half, 2), take(1, half, 2)], [idm, idm], [tensor.empty(keep + [half], et)], [idm],
                        [PARALLEL] * r, lambda a, b, _: mul(a, b))[0]
        if n % 2:
            pairs = tensor.concat(ir.RankedTensorType.get(keep + [half + 1], et), r - 1, [pairs, take(n - 1, 1, 1)])
        v, n = pairs, half + n % 2
    return reshape(v, keep)


def product_outputs(gen) -> list:
    """(output index, reduced expression) for each output of `gen` that multiplies into its
    accumulator: yield mulf(e, acc), acc used only there, e not reading any accumulator."""
    block = gen.regions[0].blocks[0]
    n_in = len(gen.inputs)
    ops = list(block.operations)
    accs = list(block.arguments)[n_in:]
    reads_acc = set(accs)
    for op in ops[:-1]:
        if any(v in reads_acc for v in op.operands):
            reads_acc.update(op.results)
    found = []
    for j, (acc, y) in enumerate(zip(accs, ops[-1].operands)):
        comb = None if isinstance(y.owner, ir.Block) else y.owner.operation
        if comb is None or comb.name != "arith.mulf" or len(list(acc.uses)) != 1 or acc not in list(comb.operands):
            continue
        others = [v for v in comb.operands if v != acc]
        if len(others) == 1 and others[0] not in reads_acc and len(list(y.uses)) == 1:
            found.append((j, others[0]))
    return found


def _expand(gen, j, expr) -> ir.Value:
    """Output j of `gen` (a product reduction of `expr`) as a tree; see the module doc."""
    block = gen.regions[0].blocks[0]
    n_in = len(gen.inputs)
    args, ops = list(block.arguments), list(block.operations)[:-1]
    maps = [a.value for a in gen.indexing_maps]
    n_dims = maps[0].n_dims
    iterators = iterator_types(gen)
    out_map, init = maps[n_in + j], gen.outputs[j]
    if not out_map.is_projected_permutation:
        raise IRError(f"irgrad: product reduction with output map {out_map} is not a projected permutation")
    kept = map_dims(out_map)
    reduced = [d for d in range(n_dims) if d not in kept]
    if any(iterators[d] != REDUCTION for d in reduced):
        raise IRError("irgrad: product output overwritten along a parallel dimension")
    extents = domain_extents(gen)
    if any(e is None or e < 0 for e in extents):
        raise IRError("irgrad: product reduction over a dynamic extent (the exact rule needs static sizes)")
    deps = set(args[n_in:])
    recompute = []
    for op in ops:
        if any(v in deps for v in op.operands):
            deps.update(op.results)
        else:
            recompute.append(op)
    et = dtype_of(init)

    def body(*bargs):
        mapping = dict(zip(args[:n_in], bargs[:n_in]))
        clone_ops(recompute, mapping)
        return mapping.get(expr, expr)

    shape = [extents[d] for d in kept + reduced]
    e = generic(list(gen.inputs), maps[:n_in], [tensor.empty(shape, et)], [projection_map(n_dims, kept + reduced)],
                [PARALLEL] * n_dims, body)[0]
    kept_shape = [extents[d] for d in kept]
    n = int(np.prod([extents[d] for d in reduced], dtype=np.int64))
    p = product_tree(reshape(e, kept_shape + [n]))
    idm = identity_map(len(kept_shape))
    return generic([p, init], [idm, idm], [tensor.empty(kept_shape, et)], [idm], [PARALLEL] * len(kept_shape),
                   lambda a, b, _: arith.mulf(b, a))[0]


def expand_products(block) -> None:
    """Rewrite every float product reduction in `block` (a function body) as a tree; a
    generic left with no used result is erased."""
    for gen in list(block.operations):
        if gen.operation.name != "linalg.generic":
            continue
        found = [(j, e) for j, e in product_outputs(gen) if isinstance(dtype_of(gen.results[j]), ir.FloatType)]
        if not found:
            continue
        with ir.InsertionPoint(gen), gen.location:
            new = {j: _expand(gen, j, e) for j, e in found}
        for j, v in new.items():
            gen.results[j].replace_all_uses_with(v)
        if not any(list(r.uses) for r in gen.results):
            gen.operation.erase()
