"""The batching pass's state and the type / layout helpers its rules share.

Inside the pass a batched value always carries the batch dimension at dimension 0 (a
batched scalar becomes a tensor<B x T>); `Batch` maps each old SSA value to its new
value and records which carry the batch.
"""

from __future__ import annotations

from .ad import clone_ops, dtype_of_type, iterator_types, unsupported
from .ir import PARALLEL, dtype_of, generic, identity_map, ir, projection_map, tensor

DYNAMIC = ir.ShapedType.get_dynamic_stride_or_offset()


def shape_or_scalar(t: ir.Type) -> list[int]:
    """A tensor type's shape, [] for a scalar."""
    return list(ir.RankedTensorType(t).shape) if isinstance(t, ir.RankedTensorType) else []


def batched_type(t: ir.Type, size: int) -> ir.RankedTensorType:
    """tensor<S x T> -> tensor<size x S x T>; a scalar T -> tensor<size x T>."""
    return ir.RankedTensorType.get([size, *shape_or_scalar(t)], dtype_of_type(t))


def shift_map(m: ir.AffineMap) -> ir.AffineMap:
    """(d0, ..., dn-1) -> R(d)  becomes  (d0, ..., dn) -> R(d1, ..., dn): the old dims move up one."""
    shift = ir.AffineMap.get(m.n_dims + 1, 0, [ir.AffineDimExpr.get(k + 1) for k in range(m.n_dims)])
    return ir.AffineMap.get(m.n_dims + 1, 0, [r.compose(shift) for r in m.results])


def batch_map(m: ir.AffineMap) -> ir.AffineMap:
    """shift_map(m) with the new dimension d0 in front: (d0, ..., dn) -> (d0, R(d1, ..., dn))."""
    shifted = shift_map(m)
    return ir.AffineMap.get(shifted.n_dims, 0, [ir.AffineDimExpr.get(0), *shifted.results])


def copy_generic(v: ir.Value, in_map: ir.AffineMap, out_shape) -> ir.Value:
    """A generic over out_shape that reads v through in_map (a broadcast or a transpose)."""
    rank = len(out_shape)
    out = tensor.empty(list(out_shape), dtype_of(v))
    return generic([v], [in_map], [out], [identity_map(rank)], [PARALLEL] * rank, lambda x, _: x)[0]


def move_axis(v: ir.Value, src: int, dst: int) -> ir.Value:
    """Move dimension `src` of tensor v to position `dst` (a transpose generic)."""
    if src == dst:
        return v
    shape = shape_or_scalar(v.type)
    perm = [k for k in range(len(shape)) if k != src]
    perm.insert(dst, src)  # output dimension k is input dimension perm[k]
    return copy_generic(v, projection_map(len(shape), [perm.index(j) for j in range(len(shape))]),
                        [shape[p] for p in perm])


def is_empty(v: ir.Value) -> bool:
    return not isinstance(v.owner, ir.Block) and v.owner.operation.name == "tensor.empty"


class Batch:
    """Old value -> new value, which new values carry the batch at dim 0, and the batch size."""

    def __init__(self, size: int):
        self.size = size
        self.values: dict = {}
        self.batched: set = set()
        self.custom: list = []   # (batched primal, batched rules) per custom-derivative call (rules.calls)

    def get(self, v: ir.Value) -> ir.Value:
        return self.values.get(v, v)

    def is_batched(self, v: ir.Value) -> bool:
        return v in self.batched

    def set(self, old: ir.Value, new: ir.Value, batched: bool) -> None:
        self.values[old] = new
        if batched:
            self.batched.add(old)

    def moved(self, v: ir.Value) -> ir.Value:
        """v's new value with the batch dimension: broadcast along it if v is unbatched."""
        return self.get(v) if self.is_batched(v) else self.broadcast(self.get(v))

    def broadcast(self, v: ir.Value) -> ir.Value:
        """x -> [x, x, ..., x] along a new leading dimension (a new tensor.empty stays empty)."""
        if is_empty(v):
            return self.empty(v)
        t = batched_type(v.type, self.size)
        return copy_generic(v, projection_map(t.rank, range(1, t.rank)), t.shape)

    def empty(self, v: ir.Value) -> ir.Value:
        """A tensor.empty of v's batched type (for an init the body never reads)."""
        t = batched_type(v.type, self.size)
        return tensor.empty(list(t.shape), t.element_type)

    def index_operands(self, op, values) -> list:
        """New values of an op's dynamic index operands (offsets, indices), which must be unbatched."""
        if any(self.is_batched(v) for v in values):
            raise unsupported(op, "an index depends on a batched value (a gather or scatter)", "batch")
        return [self.get(v) for v in values]


INDEX_CASTS = ("arith.index_cast", "arith.index_castui")


def index_cast_source(v: ir.Value):
    """(integer tensor, cast op name) if `v` is a tensor index_cast of one, else None."""
    owner = None if isinstance(v.owner, ir.Block) else v.owner.operation
    if owner is None or owner.name not in INDEX_CASTS or not isinstance(v.type, ir.RankedTensorType):
        return None
    return owner.operands[0], owner.name


def sink_index_casts(fn) -> None:
    """Make each linalg.generic in @fn that reads an index_cast of an integer tensor read
    that tensor and cast in its body. Batching scalar index arithmetic makes tensors of
    `index`, and IREE 3.13 refuses one that is read by several dispatches ("index types
    must not cross the dispatch boundary"), as a gather and its adjoint do."""
    block = fn.regions[0].blocks[0]
    for gen in list(block.operations):
        if gen.operation.name != "linalg.generic":
            continue
        sources = [index_cast_source(v) for v in gen.inputs]
        if not any(sources):
            continue
        n_in = len(gen.inputs)
        maps = [a.value for a in gen.indexing_maps]
        args, ops = list(gen.regions[0].blocks[0].arguments), list(gen.regions[0].blocks[0].operations)

        def body(*bargs, args=args, ops=ops, sources=sources, n_in=n_in):
            new_args = [ir.Operation.create(s[1], results=[ir.IndexType.get()], operands=[a]).results[0]
                        if s else a for a, s in zip(bargs[:n_in], sources)]
            mapping = dict(zip(args, new_args + list(bargs[n_in:])))
            clone_ops(ops[:-1], mapping)
            return [mapping.get(v, v) for v in ops[-1].operands]

        ins = [s[0] if s else v for v, s in zip(gen.inputs, sources)]
        with ir.InsertionPoint(gen), gen.location:
            new = generic(ins, maps[:n_in], list(gen.outputs), maps[n_in:], iterator_types(gen), body,
                          [r.type for r in gen.results])
        casts = [v.owner for v, s in zip(gen.inputs, sources) if s]
        for old, r in zip(gen.results, new):
            old.replace_all_uses_with(r)
        gen.operation.erase()
        for c in casts:
            if not any(list(r.uses) for r in c.results):
                c.operation.erase()
