"""Rewrites of the final module, after AD and just before iree-compile, that make IREE 3.13
compute the right numbers. Each names the wrong number it avoids.

Status: work in progress for issue #10 parts 1-3. `split_long_reductions` is checked by
hand on CPU and Vulkan (a 5000-long tanh sum and a 3x70000 row sum matched float64 NumPy
on both; unsplit, Vulkan returns the sum of the first 65,535), but it is NOT yet called by
`compiler.prepare` and has no tests; `order_output_loops` below is not written yet.
Wiring: run after PRE_IREE fusion in both attempts of `prepare`, and hash this file into
the compile cache key with compiler.py.

- `split_long_reductions` (every target). IREE reduces a dimension in one accumulator,
  element after element: `sum(ones(5e7))` came back as 2**24 = 16777216 on CPU, and the
  relative error of a float32 sum of 1e6 values was 7.7e-6 (XLA's: 3.9e-8). On Vulkan a
  reduction dimension longer than 65,535 is cut to its first 65,535 elements (the
  workgroup count per dimension is limited to 65,535 and nothing reports the overflow).
  So a reduction over more than LONG elements is reduced in blocks: one partial result
  per block of at most BLOCK elements, then the partials are reduced the same way — a
  tree of short sequential sums. Reductions whose combiner is not a plain add / mul /
  max / min / and / or / xor (argmax carries an index) cannot be regrouped; on Vulkan
  their long dimensions are split into (blocks, block) loops of the same generic.
- `order_output_loops` (Vulkan). lavapipe computes a `linalg.generic` whose output map
  lists its loops out of order, e.g. the adjoint `x^T @ g` over (k, i, j) written to
  (j, i), wrongly (max error 4.8 on a 64x10 @ 10x8 matmul gradient). Permuting the loops
  so that the output is written in loop order computes the same values the right way.
"""

from __future__ import annotations

import math

from iree.compiler import ir
from iree.compiler.dialects import arith, linalg, tensor

LONG = 1024          # reductions over more elements than this are reduced in blocks
BLOCK = 32           # elements per block: the error of a sequential sum grows with its length
PARTIALS = 1 << 22   # at most this many partial results; larger outputs get larger blocks
VULKAN_MAX_DIM = 65535

PARALLEL = "parallel"
REDUCTION = "reduction"


def _iterator_attr(kind: str) -> ir.Attribute:
    return ir.Attribute.parse(f"#linalg.iterator_type<{kind}>")


def _iterators(op) -> list[str]:
    """PARALLEL / REDUCTION per loop (the bindings expose no typed iterator attribute:
    compared as attributes, not as text)."""
    red = _iterator_attr(REDUCTION)
    return [REDUCTION if a == red else PARALLEL for a in op.attributes["iterator_types"]]


def _maps(op) -> list[ir.AffineMap]:
    return [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]


def _shape(v: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(v.type).shape) if isinstance(v.type, ir.RankedTensorType) else []


def _elem(v: ir.Value) -> ir.Type:
    return ir.RankedTensorType(v.type).element_type if isinstance(v.type, ir.RankedTensorType) else v.type


def _loop_sizes(op) -> dict[int, int] | None:
    """Loop dimension -> trip count, read off the operands' shapes (None if a map is not a
    projected permutation with constants)."""
    sizes = {}
    for m, v in zip(_maps(op), op.operands):
        for r, n in zip(m.results, _shape(v)):
            if isinstance(r, ir.AffineDimExpr):
                sizes[r.position] = n
            elif not isinstance(r, ir.AffineConstantExpr):
                return None
    return sizes


# ------------------------------------------------------------------ combiners

_IDENTITY = {   # combiner op -> its identity for a float or integer of `width` bits
    "arith.addf": lambda w: -0.0,       # x + -0.0 == x for every x, -0.0 included
    "arith.mulf": lambda w: 1.0,
    "arith.maximumf": lambda w: -math.inf, "arith.maxnumf": lambda w: -math.inf,
    "arith.minimumf": lambda w: math.inf, "arith.minnumf": lambda w: math.inf,
    "arith.addi": lambda w: 0, "arith.ori": lambda w: 0, "arith.xori": lambda w: 0,
    "arith.muli": lambda w: 1, "arith.andi": lambda w: -1,
    "arith.maxsi": lambda w: -(1 << (w - 1)) if w > 1 else 0,
    "arith.minsi": lambda w: (1 << (w - 1)) - 1 if w > 1 else -1,
    "arith.maxui": lambda w: 0, "arith.minui": lambda w: -1,
}


def _reaches(v: ir.Value, targets: set) -> bool:
    """Whether body value `v` depends on any of the block arguments in `targets`."""
    seen, todo = set(), [v]
    while todo:
        x = todo.pop()
        if x in targets:
            return True
        if x in seen or isinstance(x.owner, ir.Block):
            continue
        seen.add(x)
        todo.extend(x.owner.operands)
    return False


def combiners(op) -> list | None:
    """For each output of reduction generic `op`, the combiner op name, if every output
    yields `combine(out, e)` (either operand order) with `e` independent of all outputs;
    else None. These reductions may be regrouped (sums are only rounded differently)."""
    block = op.regions[0].blocks[0]
    n_out = len(op.results)
    outs = list(block.arguments)[-n_out:]
    body = list(block.operations)
    found = []
    for k, y in enumerate(body[-1].operands):
        c = y.owner
        if isinstance(c, ir.Block) or c.name not in _IDENTITY or len(c.operands) != 2:
            return None
        a, b = c.operands
        e = b if a == outs[k] else a if b == outs[k] else None
        if e is None or _reaches(e, set(outs)):
            return None
        found.append(c.name)
    return found


def _identity_value(name: str, t: ir.Type) -> ir.Value:
    if isinstance(t, ir.FloatType):
        return arith.constant(t, ir.FloatAttr.get(t, _IDENTITY[name](0)))
    width = ir.IntegerType(t).width
    value = _IDENTITY[name](width)
    if width == 1:
        value = value & 1
    return arith.constant(t, ir.IntegerAttr.get(t, value))


# ------------------------------------------------------------------ building

def _generic(ins, outs, maps, iterators, fill_body):
    """A linalg.generic whose block `fill_body(block)` fills (ending with linalg.yield)."""
    op = linalg.GenericOp([v.type for v in outs], list(ins), list(outs),
                          ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps]),
                          ir.ArrayAttr.get([_iterator_attr(i) for i in iterators]))
    block = op.regions[0].blocks.append(*[_elem(v) for v in [*ins, *outs]])
    with ir.InsertionPoint(block):
        fill_body(block)
    return op


def _slice(v: ir.Value, axis: int, start: int, size: int) -> ir.Value:
    shape = _shape(v)
    if start == 0 and size == shape[axis]:
        return v
    sizes = shape[:axis] + [size] + shape[axis + 1:]
    offsets = [0] * len(shape)
    offsets[axis] = start
    return tensor.extract_slice(ir.RankedTensorType.get(sizes, _elem(v)), v, [], [], [], offsets, sizes,
                                [1] * len(shape))


def _split_axis(v: ir.Value, axis: int, q: int, b: int) -> ir.Value:
    """v's first q*b elements along `axis`, as two axes (q, b)."""
    v = _slice(v, axis, 0, q * b)
    shape = _shape(v)
    new = shape[:axis] + [q, b] + shape[axis + 1:]
    groups, i = [], 0
    for k in range(len(shape)):
        groups.append([i, i + 1] if k == axis else [i])
        i += 2 if k == axis else 1
    return tensor.expand_shape(ir.RankedTensorType.get(new, _elem(v)), v, groups, [], new)


def _clone_body(src: ir.Block, args, index_of) -> list[ir.Value]:
    """Clone `src`'s ops at the insertion point with its arguments replaced by `args`;
    `index_of(dim)` gives the value that replaces `linalg.index dim`. Returns the values
    its linalg.yield yields."""
    mapping = dict(zip(src.arguments, args))
    ops = list(src.operations)
    for inner in ops[:-1]:
        if inner.name == "linalg.index":
            mapping[inner.results[0]] = index_of(ir.IntegerAttr(inner.attributes["dim"]).value)
            continue
        new = inner.clone()
        for i, v in enumerate(inner.operands):
            if v in mapping:
                new.operands[i] = mapping[v]
        for old, r in zip(inner.results, new.results):
            mapping[old] = r
    return [mapping.get(v, v) for v in ops[-1].operands]


def _index(dim: int) -> ir.Value:
    return linalg.IndexOp(dim).result


def _index_const(n: int) -> ir.Value:
    return arith.constant(ir.IndexType.get(), n)


def _expand_map(m: ir.AffineMap, d: int, n_dims: int, extra: list[int] | None = None) -> ir.AffineMap:
    """`m` over a domain where loop d became two loops (d, d + 1): later loops shift by one
    and a use of d becomes d, d + 1. `extra` loops are appended to the results."""
    results = []
    for r in m.results:
        if isinstance(r, ir.AffineDimExpr):
            p = r.position
            results += [ir.AffineDimExpr.get(d), ir.AffineDimExpr.get(d + 1)] if p == d else \
                [ir.AffineDimExpr.get(p + (p > d))]
        else:
            results.append(r)
    results += [ir.AffineDimExpr.get(e) for e in extra or []]
    return ir.AffineMap.get(n_dims, 0, results)


def _split(op, d: int, b: int, regroup: list | None) -> tuple[list[ir.Value], list]:
    """Reduce loop d (n iterations) of generic `op` in q = n // b blocks of b and a tail.

    The loop becomes loops (d, d + 1) over (block, element). With `regroup` (the
    combiners), loop d is parallel and each block reduces into its own partial result,
    which a second generic combines into `op`'s outputs; without, both loops reduce in
    order into the outputs. The last n % b iterations run after, as a copy of `op` over
    the tail with the outputs so far as its inits. Returns the values that replace
    `op`'s results and the new generics that reduce."""
    sizes = _loop_sizes(op)
    n = sizes[d]
    q, r = divmod(n, b)
    iters = _iterators(op)
    maps = _maps(op)
    n_in = len(op.operands) - len(op.results)
    ins, outs = list(op.operands)[:n_in], list(op.operands)[n_in:]
    body = op.regions[0].blocks[0]
    rank = len(iters) + 1
    new_ins = []
    for v, m in zip(ins, maps):
        axis = next((k for k, e in enumerate(m.results) if isinstance(e, ir.AffineDimExpr) and e.position == d), None)
        new_ins.append(v if axis is None else _split_axis(v, axis, q, b))
    new_in_maps = [_expand_map(m, d, rank) for m in maps[:n_in]]
    new_iters = iters[:d] + [PARALLEL if regroup else REDUCTION, REDUCTION] + iters[d + 1:]

    def index_of(dim):
        if dim != d:
            return _index(dim + (dim > d))
        return arith.addi(arith.muli(_index(d), _index_const(b)), _index(d + 1))

    if regroup:
        partial_inits = []
        for v, name in zip(outs, regroup):
            shape = _shape(v) + [q]
            partial_inits.append(linalg.fill(_identity_value(name, _elem(v)),
                                             outs=[tensor.empty(shape, _elem(v))]))
        out_maps = [_expand_map(m, d, rank, extra=[d]) for m in maps[n_in:]]
    else:
        partial_inits, out_maps = outs, [_expand_map(m, d, rank) for m in maps[n_in:]]
    first = _generic(new_ins, partial_inits, new_in_maps + out_maps, new_iters,
                     lambda blk: linalg.YieldOp(_clone_body(body, list(blk.arguments), index_of)))
    pending = [first]
    results = list(first.results)
    if regroup:
        results = []
        for partial, init, name in zip(first.results, outs, regroup):
            k = len(_shape(init))
            keep = ir.AffineMap.get(k + 1, 0, [ir.AffineDimExpr.get(i) for i in range(k)])
            combine = _generic([partial], [init], [ir.AffineMap.get_identity(k + 1), keep],
                               [PARALLEL] * k + [REDUCTION], lambda blk, name=name: linalg.YieldOp(
                                   [_combine(name, blk.arguments[0], blk.arguments[1])]))
            pending.append(combine)
            results.append(combine.results[0])
    if r:
        tail_ins = []
        for v, m in zip(ins, maps):
            axis = next((k for k, e in enumerate(m.results) if isinstance(e, ir.AffineDimExpr) and e.position == d),
                        None)
            tail_ins.append(v if axis is None else _slice(v, axis, q * b, r))
        offset = q * b
        tail = _generic(tail_ins, results, maps, iters, lambda blk: linalg.YieldOp(_clone_body(
            body, list(blk.arguments), lambda dim: arith.addi(_index(d), _index_const(offset)) if dim == d
            else _index(dim))))
        results = list(tail.results)
        pending.append(tail)
    return results, pending


def _combine(name: str, x: ir.Value, acc: ir.Value) -> ir.Value:
    return ir.Operation.create(name, results=[x.type], operands=[x, acc]).result


def _plan(op, vulkan: bool):
    """(loop, block, combiners) to split next in generic `op`, or None."""
    iters = _iterators(op)
    red = [i for i, t in enumerate(iters) if t == REDUCTION]
    sizes = _loop_sizes(op)
    body = op.regions[0].blocks[0].operations
    if not red or sizes is None or any(len(inner.regions) for inner in body):
        return None
    total = math.prod(sizes[i] for i in red)
    longest = max(red, key=lambda i: sizes[i])
    n = sizes[longest]
    regroup = combiners(op)
    if total > LONG and regroup is not None:
        out_size = math.prod(_shape(op.results[0]))
        b = max(BLOCK, -(-out_size * n // PARTIALS))
        if b < n:
            return longest, b, regroup
    if vulkan and n > VULKAN_MAX_DIM:
        return longest, VULKAN_MAX_DIM, None
    return None


def _generics(module: ir.Module) -> list:
    found = []

    def visit(op):
        if op.name == "linalg.generic":
            found.append(op)
        return ir.WalkResult.ADVANCE
    module.operation.walk(visit)
    return found


def split_long_reductions(module: ir.Module, target: str) -> int:
    """Reduce every long reduction in blocks (see the module docstring). Returns how many
    reductions were split."""
    vulkan = target == "vulkan-spirv"
    todo, count = _generics(module), 0
    while todo:
        op = todo.pop()
        plan = _plan(op, vulkan)
        if plan is None:
            continue
        d, b, regroup = plan
        with ir.InsertionPoint(op), op.location:
            results, pending = _split(op, d, b, regroup)
        for old, new in zip(op.results, results):
            old.replace_all_uses_with(new)
        todo.extend(pending)
        op.erase()
        count += 1
    return count
