"""Compiling MLIR text with IREE, cached in memory and on disk (`disk_cache`) by a hash
of the IR, the target and its record in the backend table (backends.py: flags, limits),
the flags, the compiler version, this file and legalize.py.

Before compiling (`prepare`), each module is measured (`profile`): its work (loop
iterations of its linalg ops) goes into the entry functions' reflection, where the
runtime reads it to pick a CPU driver, and data tiling is turned on only for modules
with a real matrix-matrix product. Then upstream elementwise fusion runs on it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import platform
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import iree.compiler as ic
from iree.compiler import ir
from iree.compiler.dialects import func
from iree.compiler.passmanager import PassManager

from . import disk_cache
from . import legalize as legalize_module
from .backends import BACKENDS, DATA_TILING, Refusal, by_target  # noqa: F401 (DATA_TILING: re-exported)
from .errors import IRError, dump_ir
from .keys import WORK_KEY
from .legalize import barrier_splat_reductions, exact_powf, fills_for_constant_generics, legalize

# Views of the backend table (`backends`), by IREE target (kept: tests and benchmarks read them).
TARGET_FLAGS = {b.target: list(b.flags) for b in BACKENDS}
# backends.DATA_TILING (a backend's matmul_flags) goes only to modules with a contraction whose
# M, N and K are all >= MIN_TILED.
MIN_TILED = 16
NO_TRANSPOSE_PROPAGATION = "--iree-global-opt-propagate-transposes=false"
# Run before iree-compile. Fusing our many one-op generics first leaves IREE less IR to
# chew: an MLP step compiled in 2.0 s instead of 2.6 s of CPU, a logistic-loss gradient
# in 0.7 s instead of 1.2 s, with the same run time (IREE fuses them all the same).
# Not `linalg-specialize-generic-ops` on top: it turned the logistic matvec into a
# 4096x256x1 matmul that ran 2.5x slower, and won nothing elsewhere.
PRE_IREE = "builtin.module(func.func(linalg-fuse-elementwise-ops), canonicalize, cse)"

_cache: dict[str, bytes] = {}
_lock = threading.Lock()
_key_locks: dict[str, threading.Lock] = {}   # one compile per key at a time, across threads
# How many IREE compilations ran, how many were answered from memory, how many needed a
# second try (see `prepare`), how many were read from / written to the disk cache, and how
# many disk entries failed their check and were rebuilt. Read by tests: a disk hit is not
# a compile.
stats = {"compiles": 0, "cache_hits": 0, "fallbacks": 0, "disk_hits": 0, "disk_writes": 0, "disk_rejected": 0}


@dataclass
class Profile:
    work: int = 0             # loop iterations over all linalg ops
    matmul: bool = False      # a contraction with M, N, K >= MIN_TILED
    transposed_multi: bool = False  # a transpose of one result of a multi-result generic


def _shape(v: ir.Value) -> list[int]:
    return list(v.type.shape) if isinstance(v.type, ir.RankedTensorType) else []


def _maps(op: ir.Operation) -> list[ir.AffineMap] | None:
    if "indexing_maps" in op.attributes:
        return [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    if op.name == "linalg.matmul":   # default maps (d0, d2), (d2, d1) -> (d0, d1)
        return [ir.AffineMap.get(3, 0, [ir.AffineDimExpr.get(i) for i in dims]) for dims in ((0, 2), (2, 1), (0, 1))]
    return None


def _dims(m: ir.AffineMap) -> list[int]:
    return [r.position for r in m.results if isinstance(r, ir.AffineDimExpr)]


def _is_matmul(op: ir.Operation, maps: list[ir.AffineMap], sizes: dict[int, int]) -> bool:
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


def _is_transpose_of_multi_result(op: ir.Operation, maps: list[ir.AffineMap] | None) -> bool:
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


def _visit(op: ir.Operation, prof: Profile) -> None:
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

    def visit(op: ir.Operation) -> ir.WalkResult:
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


def _recomputed_inputs(op: ir.Operation) -> list[ir.Value]:
    """Results of elementwise generics that fusing into reduction generic `op` would recompute:
    `op` reads them (through reshapes) by a map that misses some of its loops, as a matmul
    reads A (not indexed by the columns). Pure copies (a body that only yields) are free to fuse."""
    parallel = "#linalg.iterator_type<parallel>"
    if op.name != "linalg.generic" or all(str(a) == parallel for a in op.attributes["iterator_types"]):
        return []
    out = []
    n_in = len(op.operands) - len(op.results)
    for v, m in zip(list(op.operands)[:n_in], _maps(op)):
        while not isinstance(v.owner, ir.Block) and v.owner.name in ("tensor.expand_shape", "tensor.collapse_shape"):
            v = v.owner.operands[0]
        p = v.owner
        if isinstance(p, ir.Block) or p.name != "linalg.generic" or len(p.regions[0].blocks[0].operations) < 2 \
                or any(str(a) != parallel for a in p.attributes["iterator_types"]):
            continue
        if len(set(_dims(m))) < m.n_dims:
            out.append(v)
    return out


def pin_recomputed(module: ir.Module) -> list[tuple[str, ir.Attribute, int]]:
    """Keep `linalg-fuse-elementwise-ops` from fusing an elementwise producer into a
    reduction generic that would recompute it (see _recomputed_inputs): it fuses any
    single-use producer, so each such value becomes an extra result of its (public,
    uncalled) function until `unpin` takes them away. Fused, the tanh-derivative chain of
    a Hessian (64 basis vectors x 128 units) ran once per output column inside the 64x64x128
    contraction, which was no longer a matmul for IREE: 312 µs of CPU instead of 30 µs.
    Returns what unpin needs."""
    called = set()

    def callee(op: ir.Operation) -> ir.WalkResult:
        if op.name == "func.call":
            called.add(ir.FlatSymbolRefAttr(op.attributes["callee"]).value)
        return ir.WalkResult.ADVANCE
    module.operation.walk(callee)
    pinned = []
    for fn in module.body.operations:
        if fn.operation.name != "func.func" or "sym_visibility" in fn.attributes or len(fn.regions[0].blocks) != 1 \
                or ir.StringAttr(fn.attributes["sym_name"]).value in called:
            continue
        extra = []
        for op in fn.regions[0].blocks[0].operations:    # (what a return can see: no nested region's values)
            extra.extend(v for v in _recomputed_inputs(op.operation) if v not in extra)
        if extra:
            ftype = fn.attributes["function_type"]
            old = ir.FunctionType(ir.TypeAttr(ftype).value)
            fn.attributes["function_type"] = ir.TypeAttr.get(
                ir.FunctionType.get(list(old.inputs), [*old.results, *[v.type for v in extra]]))
            _replace_return(fn, lambda operands: [*operands, *extra])
            pinned.append((ir.StringAttr(fn.attributes["sym_name"]).value, ftype, len(old.results)))
    return pinned


def unpin(module: ir.Module, pinned: list[tuple[str, ir.Attribute, int]]) -> None:
    """Undo pin_recomputed: each function returns (and is typed) as before. (Looked up by
    name: running a pass pipeline invalidates the Python handles of the module's ops.)"""
    funcs = {ir.StringAttr(op.attributes["sym_name"]).value: op for op in module.body.operations
             if op.operation.name == "func.func"}
    for name, ftype, n in pinned:
        fn = funcs[name]
        fn.attributes["function_type"] = ftype
        _replace_return(fn, lambda operands: operands[:n])


def _replace_return(fn: ir.OpView, new_operands: Callable[[list[ir.Value]], list[ir.Value]]) -> None:
    ops = fn.regions[0].blocks[0].operations
    ret = ops[len(ops) - 1]
    with ir.InsertionPoint(ret), ret.location:
        func.ReturnOp(new_operands(list(ret.operands)))
    ret.erase()


def prepare(text: str, target: str) -> list[tuple[str, list[str]]]:
    """(text, flags) pairs to try in order: the annotated, fused module with the flags
    it wants; then, in case IREE trips over fused IR or data tiling, the annotated
    module as given with the target's plain flags. Both are legalized for `target`
    (`legalize.legalize`): a failure there raises IRError, never compiles IR that
    would compute wrong numbers."""
    record = by_target(target)
    base = list(record.flags)
    with ir.Context():
        try:
            module = ir.Module.parse(text)
        except Exception:   # IR this context cannot parse still goes to iree-compile, which reports it
            return [(text, base)]
        try:
            prof = profile(module)
            annotate(module, prof.work)
            exact_powf(module)
            barrier_splat_reductions(module)
            legalize(module, target)
            plain = str(module)
            pinned = pin_recomputed(module)
            PassManager.parse(PRE_IREE).run(module.operation)
            unpin(module, pinned)
            fills_for_constant_generics(module)
            barrier_splat_reductions(module)
            legalize(module, target)
            if not module.operation.verify():
                raise IRError("legalized module does not verify")
            fused = str(module)
            transposed_multi = prof.transposed_multi or profile(module).transposed_multi
        except IRError:
            raise
        except Exception as e:
            path = dump_ir(text, "prepare-failed")
            raise IRError(f"preparing the module for {target} failed: {type(e).__name__}: {e} (IR: {path})") from e
    tiling = list(record.matmul_flags) if prof.matmul else []
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


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in (__file__, legalize_module.__file__):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


_SOURCE = _source_hash()   # of the code that runs (read at import), as `prepare` is part of the output


def _host_cpu() -> str:
    """What `--iree-llvmcpu-target-cpu=host` compiles for: CPU model and feature flags."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "".join(dict.fromkeys(lines))   # first of each distinct line, in order
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


@functools.lru_cache(maxsize=1)
def _environment() -> str:
    """Everything besides the IR, target and flags that decides the .vmfb: the compiler and
    runtime versions, the host CPU, the cache format, this file and legalize.py (`prepare`'s rewrites)."""
    try:   # already imported by the executable that will load the module
        from iree.runtime import version
        runtime = f"{version.VERSION}@{getattr(version, 'REVISIONS', {}).get('IREE', '')}"
    except ImportError:  # pragma: no cover - compiler without runtime
        runtime = "unknown"
    return "\0".join([compiler_version(), runtime, _host_cpu(), str(disk_cache.FORMAT_VERSION), _SOURCE,
                      sys.platform])


def cache_key(text: str, target: str, flags: Sequence[str]) -> str:
    """The compile cache's key: a SHA-256 over the IR, the target, the target's backend
    record (what `prepare` reads of it: another backend's entry changes no key), the
    flags and `_environment`.

    >>> cache_key("module {}", "llvm-cpu", []) != cache_key("module {}", "llvm-cpu", ["--x"])
    True
    """
    h = hashlib.sha256()
    record = next((repr(b) for b in BACKENDS if b.target == target), "")
    for part in (text, target, record, "\0".join(flags), _environment()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _compile(attempts: list[tuple[str, list[str]]], target: str, extra_flags: Sequence[str]) -> bytes:
    """iree-compile the first of `attempts` that compiles (slower code beats no code:
    data tiling is the part of IREE most likely to hit a compiler bug)."""
    for i, (text, flags) in enumerate(attempts):
        try:
            return ic.compile_str(text, target_backends=[target], extra_args=[*flags, *extra_flags])
        except ic.CompilerToolError:
            if i == len(attempts) - 1:
                raise
            _count("fallbacks")


def _count(name: str) -> None:
    with _lock:
        stats[name] += 1


def _key_lock(key: str) -> threading.Lock:
    with _lock:
        return _key_locks.setdefault(key, threading.Lock())


def _cached(key: str) -> bytes | None:
    """The .vmfb for `key` from memory, else from the disk cache (then kept in memory)."""
    with _lock:
        vmfb = _cache.get(key)
    if vmfb is not None:
        _count("cache_hits")
        return vmfb
    directory = disk_cache.cache_dir()
    if directory is None:
        return None
    vmfb, status = disk_cache.read(key, directory)
    if status == "bad":
        _count("disk_rejected")
    if vmfb is not None:
        _count("disk_hits")
        with _lock:
            _cache[key] = vmfb
    return vmfb


def _store(key: str, vmfb: bytes) -> None:
    with _lock:
        _cache[key] = vmfb
    directory = disk_cache.cache_dir()
    if directory is not None and disk_cache.write(key, vmfb, directory):
        _count("disk_writes")


@functools.cache
def _refusal_pattern(refusal: Refusal) -> str:
    """A regex over module text finding `refusal`'s dtype (`f64`, `tensor<2x3xf64>`,
    `tensor<?xf64>`), on a line with one of its ops if it lists any; group 1: the op."""
    dtype = rf"(?:\b|(?<=[\d?]x)){re.escape(refusal.dtype)}\b"
    if not refusal.ops:
        return f"()(?:{dtype})"
    return rf"({'|'.join(re.escape(op) for op in refusal.ops)})\b[^\n]*{dtype}"


def check_types(text: str, target: str, name: str = "module") -> None:
    """Raise IRError, before compiling, if the module uses a type or op `target` cannot run.

    >>> check_types("func.func @f(%x: tensor<2xf64>) -> tensor<2xf64>", "vulkan-spirv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    irgrad.runtime.errors.IRError: irgrad: module uses float64 (f64), which vulkan-spirv cannot run: SPIR-V ...
    """
    for refusal in by_target(target).refuses:
        found = re.search(_refusal_pattern(refusal), text)
        if found:
            raise IRError(f"irgrad: {name} uses {refusal.what.format(op=found.group(1))}, which {target} cannot "
                          f"run: {refusal.why}. Use float32 (irgrad's default, as JAX's with jax_enable_x64=False).")


def compile_mlir(text: str, target: str = "llvm-cpu", extra_flags: Sequence[str] = (), name: str = "module") -> bytes:
    """Compile MLIR text to a .vmfb for `target`, or fetch it from the memory or disk
    cache; compiler errors become IRError. Threads asking for the same module at once
    compile it once.

    >>> text = "func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> { return %x : tensor<2xf32> }"
    >>> compile_mlir(text) is compile_mlir(text)   # the second call is a memory-cache hit
    True
    """
    check_types(text, target, name)
    key = cache_key(text, target, [*by_target(target).flags, *extra_flags])
    with _key_lock(key):
        vmfb = _cached(key)
        if vmfb is not None:
            return vmfb
        _count("compiles")
        try:
            vmfb = _compile(prepare(text, target), target, extra_flags)
        except ic.CompilerToolError as e:
            path = dump_ir(text, f"{name}-{target}")
            raise IRError(f"irgrad: IREE failed to compile {name} for {target}; IR written to {path}\n{e}") from None
        _store(key, vmfb)
    return vmfb
