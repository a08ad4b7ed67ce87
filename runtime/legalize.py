"""Rewrites of the final module, after AD and just before iree-compile, that make IREE 3.13
compute the right numbers (`legalize`, called by `compiler.prepare` on every module and
both of its attempts). Each names the wrong number it avoids.

What a target needs is read from its record in `backends` (`max_reduction`,
`order_all_loops`); below, "on Vulkan" is the Vulkan record's.

- `split_long_reductions` (every target). IREE reduces a dimension in one accumulator,
  element after element: `sum(ones(5e7))` came back as 2**24 = 16777216 on CPU, and the
  relative error of a float32 sum of 1e6 values was 7.7e-6 (XLA's: 3.9e-8). On Vulkan a
  reduction dimension longer than 65,535 is cut to its first 65,535 elements (the
  workgroup count per dimension is limited to 65,535 and nothing reports the overflow).
  So a reduction over more than LONG elements is reduced in blocks: one partial result
  per block of BLOCK elements (more when the partials would exceed PARTIALS), then the
  partials in blocks of BLOCK, and so on — a tree of short sequential sums. Simulated
  in float32 for twelve values and lengths 1e3..1e8, the worst relative error of this
  tree was 4.3e-7 (blocks of 32 and a final sequential sum of up to 1024 partials: 8e-6).
  Reductions whose combiner is not a plain add / mul / max / min / and / or / xor
  (argmax carries an index) cannot be regrouped; on Vulkan their long dimensions are
  split into pieces of at most 65,535, each piece fenced from the next.
- `generalize_long_matmuls`: a long linalg.matmul as the linalg.generic it stands for,
  so that it is split like any other contraction.
- `order_output_loops` (Vulkan: every generic; CPU: elementwise ones, for speed).
  lavapipe computed a `linalg.generic` whose output map lists its loops out of order,
  e.g. the adjoint `x^T @ g` over (k, i, j) written to (j, i), wrongly (max error 4.8 on
  a 64x10 @ 10x8 matmul gradient). Permuting the loops so that every output is written in
  loop order computes the same values the right way.
- `exact_powf`, `barrier_splat_reductions`, `fills_for_constant_generics`: IREE's powf
  at 0 ** 0 and negative bases, a reduction of a splat summed as one element, and the
  inits of a multi-result reduction made into one constant generic (each docstring says
  the wrong number); `compiler.prepare` runs them around elementwise fusion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from iree.compiler import ir
from iree.compiler.dialects import arith, linalg, tensor
from iree.compiler.dialects import math as mathd

from .backends import Backend, by_target
from .errors import IRError, dump_ir

LONG = 1024          # reductions over more elements than this are reduced in blocks
BLOCK = 8            # elements per block: the error of a sequential sum grows with its length
PARTIALS = 1 << 22   # at most this many partial results; larger outputs get larger blocks

PARALLEL = "parallel"
REDUCTION = "reduction"


def _iterator_attr(kind: str) -> ir.Attribute:
    return ir.Attribute.parse(f"#linalg.iterator_type<{kind}>")


def _iterators(op: ir.Operation) -> list[str]:
    """PARALLEL / REDUCTION per loop (the bindings expose no typed iterator attribute:
    compared as attributes, not as text)."""
    red = _iterator_attr(REDUCTION)
    return [REDUCTION if a == red else PARALLEL for a in op.attributes["iterator_types"]]


def _maps(op: ir.Operation) -> list[ir.AffineMap]:
    return [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]


def _shape(v: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(v.type).shape) if isinstance(v.type, ir.RankedTensorType) else []


def _elem(v: ir.Value) -> ir.Type:
    return ir.RankedTensorType(v.type).element_type if isinstance(v.type, ir.RankedTensorType) else v.type


def _loop_sizes(op: ir.Operation) -> dict[int, int] | None:
    """Loop dimension -> trip count, read off the operands' shapes where a map uses the
    loop on its own (None if some loop is never used so)."""
    sizes = {}
    maps = _maps(op)
    for m, v in zip(maps, op.operands):
        for r, n in zip(m.results, _shape(v)):
            if isinstance(r, ir.AffineDimExpr):
                sizes[r.position] = n
    return sizes if len(sizes) == maps[0].n_dims else None


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


def _reaches(v: ir.Value, targets: set[ir.Value]) -> bool:
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


def combiners(op: ir.Operation) -> list[str] | None:
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

def _generic(ins: Sequence[ir.Value], outs: Sequence[ir.Value], maps: Sequence[ir.AffineMap],
             iterators: Sequence[str], fill_body: Callable[[ir.Block], object]) -> linalg.GenericOp:
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


def _clone_body(src: ir.Block, args: Sequence[ir.Value], index_of: Callable[[int], ir.Value]) -> list[ir.Value]:
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


def _barrier(v: ir.Value) -> ir.Value:
    return ir.Operation.create("util.optimization_barrier", results=[v.type], operands=[v]).results[0]


def _axis_of(m: ir.AffineMap, d: int) -> int | None:
    return next((k for k, e in enumerate(m.results) if isinstance(e, ir.AffineDimExpr) and e.position == d), None)


def _piece(op: ir.Operation, d: int, start: int, size: int, inits: list[ir.Value]) -> linalg.GenericOp:
    """A copy of generic `op` over iterations [start, start + size) of loop d, reducing
    into `inits`."""
    maps = _maps(op)
    n_in = len(op.operands) - len(op.results)
    ins = [v if _axis_of(m, d) is None else _slice(v, _axis_of(m, d), start, size)
           for v, m in zip(list(op.operands)[:n_in], maps)]
    body = op.regions[0].blocks[0]
    return _generic(ins, inits, maps, _iterators(op), lambda blk: linalg.YieldOp(_clone_body(
        body, list(blk.arguments), lambda dim: arith.addi(_index(d), _index_const(start)) if dim == d and start
        else _index(dim))))


def _chain(op: ir.Operation, d: int, b: int, fence: bool) -> tuple[list[ir.Value], list[tuple[linalg.GenericOp, int]]]:
    """Reduce loop d of generic `op` in order, in pieces of at most b iterations, each
    piece's results the next one's inits (for reductions that cannot be regrouped)."""
    n = _loop_sizes(op)[d]
    n_in = len(op.operands) - len(op.results)
    results, pending = list(op.operands)[n_in:], []
    for start in range(0, n, b):
        piece = _piece(op, d, start, min(b, n - start), results)
        pending.append((piece, LONG))
        last = start + b >= n
        results = [v if last or not fence else _barrier(v) for v in piece.results]
    return results, pending


def _split(op: ir.Operation, d: int, b: int, combiners: list[str], fence: bool
           ) -> tuple[list[ir.Value], list[tuple[linalg.GenericOp, int]]]:
    """Reduce loop d (n iterations) of generic `op` in q = n // b blocks of b and a tail.

    The loop becomes loops (d, d + 1) over (block, element); loop d is parallel and each
    block reduces into its own partial result, which a second generic combines (with
    `combiners`) into `op`'s outputs. The last n % b iterations run after, as a copy of
    `op` over the tail with the outputs so far as its inits. Returns the values that
    replace `op`'s results and the new generics that reduce, each with the longest
    reduction to leave unsplit in it. With `fence`, each piece's results pass through a
    util.optimization_barrier before the next piece reads them: on Vulkan IREE fused
    two chained reductions of 60,000 and 10,000 elements back into one dispatch, which
    then stopped at 65,535 (max of 0..69999 came back as 65533)."""
    n = _loop_sizes(op)[d]
    q, r = divmod(n, b)
    iters = _iterators(op)
    maps = _maps(op)
    n_in = len(op.operands) - len(op.results)
    ins, outs = list(op.operands)[:n_in], list(op.operands)[n_in:]
    body = op.regions[0].blocks[0]
    rank = len(iters) + 1
    new_ins = [v if _axis_of(m, d) is None else _split_axis(v, _axis_of(m, d), q, b) for v, m in zip(ins, maps)]
    new_in_maps = [_expand_map(m, d, rank) for m in maps[:n_in]]
    new_iters = iters[:d] + [PARALLEL, REDUCTION] + iters[d + 1:]

    def index_of(dim: int) -> ir.Value:
        if dim != d:
            return _index(dim + (dim > d))
        return arith.addi(arith.muli(_index(d), _index_const(b)), _index(d + 1))

    partial_inits = [linalg.fill(_identity_value(name, _elem(v)), outs=[tensor.empty(_shape(v) + [q], _elem(v))])
                     for v, name in zip(outs, combiners)]
    out_maps = [_expand_map(m, d, rank, extra=[d]) for m in maps[n_in:]]
    first = _generic(new_ins, partial_inits, new_in_maps + out_maps, new_iters,
                     lambda blk: linalg.YieldOp(_clone_body(body, list(blk.arguments), index_of)))
    pending = [(first, LONG)]
    results = []
    for partial, init, name in zip(first.results, outs, combiners):
        k = len(_shape(init))
        keep = ir.AffineMap.get(k + 1, 0, [ir.AffineDimExpr.get(i) for i in range(k)])
        combine = _generic([_barrier(partial) if fence else partial], [init],
                           [ir.AffineMap.get_identity(k + 1), keep], [PARALLEL] * k + [REDUCTION],
                           lambda blk, name=name: linalg.YieldOp([_combine(name, blk.arguments[0], blk.arguments[1])]))
        pending.append((combine, BLOCK))
        results.append(_barrier(combine.results[0]) if fence and r else combine.results[0])
    if r:
        tail = _piece(op, d, q * b, r, results)
        results = list(tail.results)
        pending.append((tail, LONG))
    return results, pending


def _combine(name: str, x: ir.Value, acc: ir.Value) -> ir.Value:
    return ir.Operation.create(name, results=[x.type], operands=[x, acc]).result


def _plan(op: ir.Operation, record: Backend, longest_kept: int) -> tuple[int, int, list[str] | None] | None:
    """(loop, block, combiners) to split next in generic `op`, or None. Reductions over
    at most `longest_kept` elements are left as they are; on `record`'s target, none longer
    than its `max_reduction`."""
    limit = record.max_reduction
    iters = _iterators(op)
    red = [i for i, t in enumerate(iters) if t == REDUCTION]
    sizes = _loop_sizes(op)
    body = op.regions[0].blocks[0].operations
    if not red or sizes is None:
        return None
    total = math.prod(sizes[i] for i in red)
    plain_maps = all(isinstance(r, (ir.AffineDimExpr, ir.AffineConstantExpr)) for m in _maps(op) for r in m.results)
    if any(len(inner.regions) for inner in body) or not plain_maps:
        if limit is not None and total > limit:
            path = dump_ir(str(op), f"{record.name}-long-reduction")
            raise IRError(f"a reduction over {total} elements with nested regions or index arithmetic cannot be split, "
                          f"and IREE's {record.target} target reduces at most {limit}; run it on the CPU (IR: {path})")
        return None
    longest = max(red, key=lambda i: sizes[i])
    n = sizes[longest]
    regroup = combiners(op)
    if total > longest_kept and regroup is not None:
        out_size = math.prod(_shape(op.results[0]))
        b = max(BLOCK, -(-out_size * n // PARTIALS))
        if b < n:
            return longest, b, regroup
    if limit is not None and total > limit:   # pieces of the longest loop that reduce <= limit each
        return longest, max(1, limit // (total // n)), None
    return None


def ops_named(module: ir.Module, *names: str) -> list[ir.Operation]:
    """Every op of `module` whose name is one of `names`, in walk order.

    >>> [op.name for op in ops_named(module, "linalg.generic")]   # doctest: +SKIP
    ['linalg.generic', 'linalg.generic']
    """
    found = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name in names:
            found.append(op)
        return ir.WalkResult.ADVANCE
    module.operation.walk(visit)
    return found


def split_long_reductions(module: ir.Module, target: str) -> int:
    """Reduce every long reduction in blocks (see the module docstring). Returns how many
    reductions were split."""
    record = by_target(target)
    fence = record.max_reduction is not None   # fusion would undo the split (see _split)
    todo, count = [(op, LONG) for op in ops_named(module, "linalg.generic")], 0
    while todo:
        op, longest_kept = todo.pop()
        plan = _plan(op, record, longest_kept)
        if plan is None:
            continue
        d, b, regroup = plan
        with ir.InsertionPoint(op), op.location:
            results, pending = (_split(op, d, b, regroup, fence=fence) if regroup
                                else _chain(op, d, b, fence=fence))
        for old, new in zip(op.results, results):
            old.replace_all_uses_with(new)
        todo.extend(pending)
        op.erase()
        count += 1
    return count


# ------------------------------------------------------------------ splats, powf, constant generics

def fills_for_constant_generics(module: ir.Module) -> None:
    """Replace each linalg.generic with no inputs whose results are all values from
    outside its body (constants) by one linalg.fill per result.

    Elementwise fusion makes such a generic out of the inits of a multi-result
    reduction (jnp.prod's gradient: product and zero count start at 1 and 0), and
    IREE 3.13 miscompiles it: both reductions started from the same value and the
    gradient came out all zeros. As fills it compiles right.
    """
    found = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "linalg.generic" and len(op.operands) == len(op.results) > 0:
            body = op.regions[0].blocks[0]
            ops = list(body.operations)
            inside = {*body.arguments, *(r for o in ops for r in o.results)}
            yielded = list(ops[-1].operands)
            if not any(v in inside for v in yielded):
                found.append((op, yielded))
        return ir.WalkResult.ADVANCE
    module.operation.walk(visit)
    for op, yielded in found:
        with ir.InsertionPoint(op), op.location:
            fills = [linalg.fill(v, outs=[init]) for v, init in zip(yielded, op.operands)]
        for r, f in zip(op.results, fills):
            r.replace_all_uses_with(f)
        op.erase()


def _is_splat_producer(v: ir.Value) -> bool:
    """Whether tensor `v` is one value broadcast: a linalg.fill, or an all-parallel
    linalg.generic whose body reads only 0-d inputs (or none), no index, no gather."""
    p = v.owner
    if isinstance(p, ir.Block):
        return False
    if p.name == "linalg.fill":
        return True
    if p.name != "linalg.generic" or any(t != PARALLEL for t in _iterators(p)):
        return False
    body = p.regions[0].blocks[0]
    if any(op.operation.name in ("linalg.index", "tensor.extract") for op in body.operations):
        return False
    n_in = len(p.operands) - len(p.results)
    used = [k for k, a in enumerate(list(body.arguments)[:n_in]) if list(a.uses)]
    return all(not _maps(p)[k].results for k in used)


def _splat_only_dims_inputs(op: ir.Operation) -> list[ir.Value]:
    """The splat inputs of reduction generic `op` (see _is_splat_producer) when some
    reduction dimension is indexed by no other input its body reads."""
    if op.name != "linalg.generic":
        return []
    iters = _iterators(op)
    if all(a == PARALLEL for a in iters):
        return []
    n_in = len(op.operands) - len(op.results)
    body_args = list(op.regions[0].blocks[0].arguments)
    maps = _maps(op)
    splats, covered = [], set()
    for k, v in enumerate(list(op.operands)[:n_in]):
        if _is_splat_producer(v):
            splats.append(v)
        elif list(body_args[k].uses):
            covered.update(r.position for r in maps[k].results if isinstance(r, ir.AffineDimExpr))
    uncovered = [d for d, a in enumerate(iters) if a != PARALLEL and d not in covered]
    return splats if uncovered else []


def barrier_splat_reductions(module: ir.Module) -> None:
    """Put a util.optimization_barrier between a reduction generic and each splat input
    (a fill, a broadcast of a scalar) that alone spans one of its reduction dimensions.

    IREE 3.13 fuses the splat into the reduction, whose body then reads nothing that
    varies along that dimension, and its vectorizer drops the dimension: sum(fill(c, n))
    came out as c, not n * c (the gradient of sum(grad(sum)(v)) * sum(v) was 1, not n).
    Behind the barrier the splat is a tensor like any other and the sum is right.
    """
    found = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        for v in _splat_only_dims_inputs(op):
            found.append((op, v))
        return ir.WalkResult.ADVANCE
    module.operation.walk(visit)
    for op, v in found:
        with ir.InsertionPoint(op), op.location:
            b = _barrier(v)
        for k, operand in enumerate(op.operands):
            if operand == v:
                op.operands[k] = b


def _powf_exact(x: ir.Value, y: ir.Value) -> ir.Value:
    """x ** y as JAX computes it, from IREE's powf on |x| (right for x >= 0 but for
    0 ** 0): 1 where y == 0; for x < 0, +-|x| ** y where y is an integer, NaN otherwise,
    except (-inf) ** y = inf ** y (C's pow: (-inf) ** 0.5 is inf, not NaN)."""
    t = x.type
    et = ir.RankedTensorType(t).element_type if isinstance(t, ir.RankedTensorType) else t

    def c(value: float) -> ir.Value:
        attr = ir.FloatAttr.get(et, value)
        return arith.constant(t, ir.DenseElementsAttr.get_splat(t, attr) if et != t else attr)

    def cmp(pred: str, a: ir.Value, b: ir.Value) -> ir.Value:
        return arith.CmpFOp(getattr(arith.CmpFPredicate, pred), a, b).result
    p = mathd.powf(mathd.absf(x), y)
    is_int = cmp("OEQ", mathd.trunc(y), y)
    half = arith.mulf(y, c(0.5))
    is_odd = arith.andi(is_int, cmp("UNE", mathd.trunc(half), half))
    signed = arith.select(is_odd, mathd.copysign(p, x), p)      # (-0.0) ** -1 is -inf
    finite_negative = arith.andi(cmp("OLT", x, c(0.0)), cmp("ONE", x, c(float("-inf"))))
    not_real = arith.andi(finite_negative, arith.xori(is_int, arith.constant(is_int.type, _true(is_int))))
    r = arith.select(not_real, c(float("nan")), signed)
    # C's pow (and JAX): 1 ** y is 1 even for y = nan, (-1) ** +-inf is 1; IREE's powf gives NaN.
    minus_one_to_inf = arith.andi(cmp("OEQ", mathd.absf(x), c(1.0)), cmp("OEQ", mathd.absf(y), c(float("inf"))))
    one = arith.ori(cmp("OEQ", y, c(0.0)), arith.ori(cmp("OEQ", x, c(1.0)), minus_one_to_inf))
    return arith.select(one, c(1.0), r)


def _true(v: ir.Value) -> ir.Attribute:
    t = v.type
    one = ir.IntegerAttr.get(ir.IntegerType.get_signless(1), 1)
    return ir.DenseElementsAttr.get_splat(t, one) if isinstance(t, ir.RankedTensorType) else one


def exact_powf(module: ir.Module) -> None:
    """Replace each math.powf by _powf_exact. IREE 3.13's powf gives NaN for 0 ** 0 and
    for a negative base with an integer exponent ((-2) ** 2), where JAX gives 1 and 4;
    derivatives of pow at 0 read 0 ** 0 too."""
    for op in ops_named(module, "math.powf"):
        with ir.InsertionPoint(op), op.location:
            r = _powf_exact(op.operands[0], op.operands[1])
        op.results[0].replace_all_uses_with(r)
        op.erase()


# ------------------------------------------------------------------ named contractions

_MUL_ADD = {True: ("arith.mulf", "arith.addf"), False: ("arith.muli", "arith.addi")}


def generalize_long_matmuls(module: ir.Module) -> int:
    """Rewrite each linalg.matmul whose contraction is longer than LONG as the equivalent
    linalg.generic (operands of the output's element type only), so that
    `split_long_reductions` can split it. Returns how many were rewritten."""
    count = 0
    for op in ops_named(module, "linalg.matmul"):
        a, b, init = op.operands
        t = _elem(init)
        if _shape(a)[1] <= LONG or _elem(a) != t or _elem(b) != t or t == ir.IntegerType.get_signless(1):
            continue
        mul, add = _MUL_ADD[isinstance(t, ir.FloatType)]
        d = [ir.AffineDimExpr.get(i) for i in range(3)]
        maps = [ir.AffineMap.get(3, 0, [d[0], d[2]]), ir.AffineMap.get(3, 0, [d[2], d[1]]),
                ir.AffineMap.get(3, 0, [d[0], d[1]])]

        def body(blk: ir.Block) -> None:
            x, y, acc = blk.arguments
            p = ir.Operation.create(mul, results=[t], operands=[x, y]).result
            linalg.YieldOp([ir.Operation.create(add, results=[t], operands=[acc, p]).result])
        with ir.InsertionPoint(op), op.location:
            new = _generic([a, b], [init], maps, [PARALLEL, PARALLEL, REDUCTION], body)
        op.results[0].replace_all_uses_with(new.results[0])
        op.erase()
        count += 1
    return count


# ------------------------------------------------------------------ loop order

def _output_order(out_maps: list[ir.AffineMap]) -> list[int] | None:
    """One order of the loops that the outputs index in which every output lists them
    increasingly (a topological order of 'comes before in some output', ties broken by
    loop number), or None if the outputs disagree."""
    used = sorted({r.position for m in out_maps for r in m.results if isinstance(r, ir.AffineDimExpr)})
    after = {d: set() for d in used}
    for m in out_maps:
        dims = [r.position for r in m.results if isinstance(r, ir.AffineDimExpr)]
        for x, y in zip(dims, dims[1:]):
            after[x].add(y)
    order, ready = [], [d for d in used if not any(d in s for s in after.values())]
    indegree = {d: sum(d in s for s in after.values()) for d in used}
    while ready:
        ready.sort()
        d = ready.pop(0)
        order.append(d)
        for e in after[d]:
            indegree[e] -= 1
            if indegree[e] == 0:
                ready.append(e)
    return order if len(order) == len(used) else None


def _permute_loops(op: ir.Operation, order: list[int]) -> None:
    """Renumber the loops of generic `op`: new loop i is old loop order[i]."""
    maps, iters = _maps(op), list(op.attributes["iterator_types"])
    n = len(iters)
    new_of = {old: new for new, old in enumerate(order)}
    to_new = ir.AffineMap.get(n, 0, [ir.AffineDimExpr.get(new_of[d]) for d in range(n)])
    op.attributes["indexing_maps"] = ir.ArrayAttr.get(
        [ir.AffineMapAttr.get(ir.AffineMap.get(n, m.n_symbols, [r.compose(to_new) for r in m.results])) for m in maps])
    op.attributes["iterator_types"] = ir.ArrayAttr.get([iters[d] for d in order])
    i64 = ir.IntegerType.get_signless(64)

    def renumber(inner: ir.Operation) -> ir.WalkResult:
        if inner.name == "linalg.index":
            inner.attributes["dim"] = ir.IntegerAttr.get(i64, new_of[ir.IntegerAttr(inner.attributes["dim"]).value])
        return ir.WalkResult.ADVANCE
    for inner in op.regions[0].blocks[0].operations:
        inner.operation.walk(renumber)


def order_output_loops(op: ir.Operation, elementwise_only: bool) -> bool:
    """Permute the loops of linalg.generic `op` so that each output is written in loop
    order: the loops an output indexes keep the positions they had between them, and
    take them in the output's order. Returns whether `op` changed.

    Vulkan (every generic): lavapipe computed `x^T @ g` over loops (k, i, j) written to
    (j, i) wrongly — max error 4.8 on a 64x10 @ 10x8 gradient, an upper-triangular
    result on 5x6 @ 6x4. Where two outputs need opposite orders, IRError: no order is
    known to compute right. CPU (`elementwise_only`, generics whose only reductions have
    one iteration): IREE vectorizes the innermost loop and does not interchange such
    loops; the reverse pass's outer product (j, k) -> dW[k, j] ran 2.5x slower strided.
    """
    iters = _iterators(op)
    n_in = len(op.operands) - len(op.results)
    out_maps = _maps(op)[n_in:]
    if elementwise_only:
        sizes = _loop_sizes(op) or {}
        if any(t != PARALLEL and sizes.get(d) != 1 for d, t in enumerate(iters)):
            return False
    order_used = _output_order(out_maps)
    if order_used is None:
        if elementwise_only:
            return False
        path = dump_ir(str(op), "conflicting-output-orders")
        raise IRError("a linalg.generic writes two outputs in opposite loop orders, which IREE's Vulkan "
                      f"target computes wrongly; no loop order serves both (IR: {path})")
    slots = sorted(order_used)
    if order_used == slots:
        return False
    order = list(range(len(iters)))
    for slot, d in zip(slots, order_used):
        order[slot] = d
    _permute_loops(op, order)
    return True


def legalize(module: ir.Module, target: str) -> None:
    """All of this module's rewrites, in order, for iree-compile's `target`:
    long matmuls as generics, long reductions split, outputs written in loop order.

    >>> legalize(module, "vulkan-spirv")   # doctest: +SKIP
    """
    generalize_long_matmuls(module)
    split_long_reductions(module, target)
    every = by_target(target).order_all_loops
    for op in ops_named(module, "linalg.generic"):
        order_output_loops(op, elementwise_only=not every)
