"""Compiling MLIR text with IREE, with an in-memory cache keyed by a hash of the IR.

Before compiling (`prepare`), each module is measured (`profile`): its work (loop
iterations of its linalg ops) goes into the entry functions' reflection, where the
runtime reads it to pick a CPU driver, and data tiling is turned on only for modules
with a real matrix-matrix product. Then upstream elementwise fusion runs on it.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

import iree.compiler as ic
from iree.compiler import ir
from iree.compiler.dialects import linalg
from iree.compiler.passmanager import PassManager

from .errors import IRError, dump_ir

TARGET_FLAGS = {
    "llvm-cpu": ["--iree-llvmcpu-target-cpu=host"],
    "vulkan-spirv": [],
    "cuda": [],
}
# Data tiling (packing matmul operands into cache-sized tiles) took a 1024^3 f32 matmul
# gradient from 282 to 74 ms of CPU time here, and an MLP step from 3.3 to 2.8 ms; but it
# packs both operands on every call, which doubled a matrix-vector gradient (0.83 ->
# 1.46 ms). So: only for modules with a contraction whose M, N and K are all >= MIN_TILED.
# IREE 3.13's `--iree-opt-data-tiling` picks the DispatchCreation path, which fails to
# compile common adjoints (an MLP step: "large vector sizes"; a matvec fused with an i1
# input: "load_from_buffer ... shapes must be compatible"); the GlobalOptimization path
# compiles them and is as fast.
DATA_TILING = "--iree-global-opt-data-tiling"
MIN_TILED = 16
NO_TRANSPOSE_PROPAGATION = "--iree-global-opt-propagate-transposes=false"
# Reflection key (in each public function's `iree.reflection`) holding the module's work.
WORK_KEY = "irgrad.work"
# Run before iree-compile. Fusing our many one-op generics first leaves IREE less IR to
# chew: an MLP step compiled in 2.0 s instead of 2.6 s of CPU, a logistic-loss gradient
# in 0.7 s instead of 1.2 s, with the same run time (IREE fuses them all the same).
# Not `linalg-specialize-generic-ops` on top: it turned the logistic matvec into a
# 4096x256x1 matmul that ran 2.5x slower, and won nothing elsewhere.
PRE_IREE = "builtin.module(func.func(linalg-fuse-elementwise-ops), canonicalize, cse)"

_cache: dict[str, bytes] = {}
_lock = threading.Lock()
# How many IREE compilations ran, how many were answered from the cache (read by tests),
# and how many needed a second try (see `prepare`).
stats = {"compiles": 0, "cache_hits": 0, "fallbacks": 0}


@dataclass
class Profile:
    work: int = 0             # loop iterations over all linalg ops
    matmul: bool = False      # a contraction with M, N, K >= MIN_TILED
    transposed_multi: bool = False  # a transpose of one result of a multi-result generic


def _shape(v: ir.Value) -> list[int]:
    return list(v.type.shape) if isinstance(v.type, ir.RankedTensorType) else []


def _maps(op) -> list | None:
    if "indexing_maps" in op.attributes:
        return [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    if op.name == "linalg.matmul":   # default maps (d0, d2), (d2, d1) -> (d0, d1)
        return [ir.AffineMap.get(3, 0, [ir.AffineDimExpr.get(i) for i in dims]) for dims in ((0, 2), (2, 1), (0, 1))]
    return None


def _dims(m) -> list[int]:
    return [r.position for r in m.results if isinstance(r, ir.AffineDimExpr)]


def _is_matmul(op, maps, sizes) -> bool:
    """Two used inputs multiplied, reduced over the dims the output lacks: M, N, K big?"""
    n_in = len(op.operands) - len(op.results)
    if op.name == "linalg.generic":
        body = op.regions[0].blocks[0]
        if not any(o.name in ("arith.mulf", "arith.muli") for o in body.operations):
            return False
        used = [i for i in range(n_in) if list(body.arguments[i].uses)]
    else:
        used = list(range(n_in))
    if len(used) != 2:
        return False
    a, b, out = (set(_dims(maps[i])) for i in (*used, -1))
    size = lambda dims: math.prod(sizes.get(d, 1) for d in dims)
    m, n, k = size(out & a - b), size(out & b - a), size((a & b) - out)
    return min(m, n, k) >= MIN_TILED and bool((a & b) - out)


def _is_transpose_of_multi_result(op, maps) -> bool:
    """A pure transpose (linalg.transpose, or a generic that only copies one input to a
    differently permuted output) of one result of a multi-result linalg.generic."""
    k = 0
    if op.name == "linalg.generic":
        body = list(op.regions[0].blocks[0].operations)
        y = body[0].operands[0] if len(body) == 1 and len(op.results) == 1 else None
        if y is None or not isinstance(y.owner, ir.Block):
            return False
        k = ir.BlockArgument(y).arg_number
        if k >= len(op.operands) - 1 or not (maps[k].is_permutation and maps[-1].is_permutation) \
                or maps[k] == maps[-1]:
            return False
    elif op.name != "linalg.transpose":
        return False
    src = op.operands[k].owner
    return not isinstance(src, ir.Block) and src.name == "linalg.generic" and len(src.results) > 1


def _visit(op, prof: Profile) -> None:
    if not op.name.startswith("linalg.") or not op.results:
        return
    maps = _maps(op)
    prof.transposed_multi = prof.transposed_multi or _is_transpose_of_multi_result(op, maps)
    if maps is None:   # fill, transpose, reduce, ...: about one iteration per element touched
        prof.work += max(math.prod(_shape(v)) for v in [*op.operands, *op.results])
        return
    sizes = {}
    for m, v in zip(maps, op.operands):
        for r, n in zip(m.results, _shape(v)):
            if isinstance(r, ir.AffineDimExpr):
                sizes[r.position] = n
    prof.work += math.prod(sizes.values())
    prof.matmul = prof.matmul or _is_matmul(op, maps, sizes)


def profile(module: ir.Module) -> Profile:
    """Work and matmul-ness of a module (see Profile)."""
    prof = Profile()

    def visit(op):
        _visit(op, prof)
        return ir.WalkResult.ADVANCE
    module.operation.walk(visit)
    return prof


def annotate(module: ir.Module, work: int) -> None:
    """Store `work` in every public function's `iree.reflection` (read by the runtime)."""
    for op in module.body.operations:
        if op.operation.name != "func.func" or "sym_visibility" in op.attributes:
            continue
        entries = {}
        if "iree.reflection" in op.attributes:
            entries = {a.name: a.attr for a in ir.DictAttr(op.attributes["iree.reflection"])}
        entries[WORK_KEY] = ir.StringAttr.get(str(work))
        op.attributes["iree.reflection"] = ir.DictAttr.get(entries)


def fills_for_constant_generics(module: ir.Module) -> None:
    """Replace each linalg.generic with no inputs whose results are all values from
    outside its body (constants) by one linalg.fill per result.

    Elementwise fusion makes such a generic out of the inits of a multi-result
    reduction (jnp.prod's gradient: product and zero count start at 1 and 0), and
    IREE 3.13 miscompiles it: both reductions started from the same value and the
    gradient came out all zeros. As fills it compiles right.
    """
    found = []

    def visit(op):
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


def prepare(text: str, target: str) -> list[tuple[str, list[str]]]:
    """(text, flags) pairs to try in order: the annotated, fused module with the flags
    it wants; then, in case IREE trips over fused IR or data tiling, the annotated
    module as given with the target's plain flags."""
    base = list(TARGET_FLAGS[target])
    try:
        with ir.Context():
            module = ir.Module.parse(text)
            prof = profile(module)
            annotate(module, prof.work)
            plain = str(module)
            PassManager.parse(PRE_IREE).run(module.operation)
            fills_for_constant_generics(module)
            fused = str(module)
            transposed_multi = prof.transposed_multi or profile(module).transposed_multi
    except Exception:   # IR this context cannot parse still goes to iree-compile, which reports it
        return [(text, base)]
    tiling = [DATA_TILING] if target == "llvm-cpu" and prof.matmul else []
    # IREE 3.13's transpose propagation folds such a transpose into the producer's output
    # map and leaves a generic yielding 2 values into 1 output ("expected number of yield
    # values (2) to match the number of inits"), so it is turned off for these modules.
    if transposed_multi:
        base.append(NO_TRANSPOSE_PROPAGATION)
    return [(fused, base + tiling), (plain, base)]


def compiler_version() -> str:
    try:
        from iree.compiler import version
        return f"{version.VERSION}@{getattr(version, 'REVISIONS', {}).get('IREE', '')}"
    except ImportError:  # pragma: no cover - older wheels
        return "unknown"


def cache_key(text: str, target: str, flags) -> str:
    h = hashlib.sha256()
    for part in (text, target, "\0".join(flags), compiler_version()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _compile(attempts, target: str, extra_flags) -> bytes:
    """iree-compile the first of `attempts` that compiles (slower code beats no code:
    data tiling is the part of IREE most likely to hit a compiler bug)."""
    for i, (text, flags) in enumerate(attempts):
        try:
            return ic.compile_str(text, target_backends=[target], extra_args=[*flags, *extra_flags])
        except ic.CompilerToolError:
            if i == len(attempts) - 1:
                raise
            stats["fallbacks"] += 1


def compile_mlir(text: str, target: str = "llvm-cpu", extra_flags=(), name: str = "module") -> bytes:
    """Compile MLIR text to a .vmfb for `target`; compiler errors become IRError."""
    key = cache_key(text, target, [*TARGET_FLAGS[target], *extra_flags])
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        stats["cache_hits"] += 1
        return hit
    stats["compiles"] += 1
    try:
        vmfb = _compile(prepare(text, target), target, extra_flags)
    except ic.CompilerToolError as e:
        path = dump_ir(text, f"{name}-{target}")
        raise IRError(f"irgrad: IREE failed to compile {name} for {target}; IR written to {path}\n{e}") from None
    with _lock:
        _cache[key] = vmfb
    return vmfb
