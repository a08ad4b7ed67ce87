"""Ahead-of-time export: `irgrad.export(fn, *args)` and `irgrad.load(path)`.

`export` traces `fn` like `jit` (abstractly: arguments may be arrays or
`ShapeDtypeStruct`s, in pytrees), bakes arrays the function closes over into the
module as constants, writes the signature into `@main`'s reflection metadata
(see runtime/artifact.py) and compiles one .vmfb. `load` reads that file back with
nothing but iree.runtime and returns a callable taking and returning the same
pytrees. This module imports the tracer and the compiler only inside `export`, so
`load` works where iree-base-compiler is not installed. An artifact is code: `load`
runs what it holds in this process (see `load`).
"""

from __future__ import annotations

import collections
import json
import os
import sys

import numpy as np
from irgrad.runtime import artifact
from irgrad.runtime.artifact import ArtifactError
from irgrad.runtime.backends import PLATFORMS, backend

from . import devices, dtypes, memory, tree_util
from .array import Array

__all__ = ["ArtifactError", "Exported", "Loaded", "ShapeDtypeStruct", "export", "load"]


# ------------------------------------------------------------------ abstract arguments


class ShapeDtypeStruct:
    """A shape and dtype standing for an array argument, as `jax.ShapeDtypeStruct`.

    >>> import irgrad, numpy as np
    >>> irgrad.ShapeDtypeStruct((64, 10), np.float32)
    ShapeDtypeStruct(shape=(64, 10), dtype=float32)
    """

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type: bool = False):
        self.shape = _shape(shape)
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"ShapeDtypeStruct: dtype {dtype!r} is not a NumPy dtype (e.g. np.float32, "
                            "'float32', jnp.int32)") from None
        self.weak_type = bool(weak_type)

    def is_static(self) -> bool:
        """Whether every dimension is a size (None or a name like "b" stands for a dynamic one)."""
        return all(isinstance(d, int) for d in self.shape)

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))

    def str_short(self) -> str:
        return f"{self.dtype.name}[{','.join(map(str, self.shape))}]"

    def __repr__(self):
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name}{weak})"

    def __eq__(self, other):
        return isinstance(other, ShapeDtypeStruct) and \
            (self.shape, self.dtype, self.weak_type) == (other.shape, other.dtype, other.weak_type)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.weak_type))


def _shape(shape) -> tuple:
    """A shape as a tuple of ints; None and strings (JAX's symbolic dimensions, e.g. "b") are
    kept, for export to refuse naming the argument. Negative or non-integer sizes are refused."""
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"ShapeDtypeStruct: shape must be a tuple of sizes, got {shape!r}") from None
    out = []
    for d in dims:
        if d is None or isinstance(d, str):
            out.append(d)
        elif isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0:
            out.append(int(d))
        else:
            raise ValueError(f"ShapeDtypeStruct: shape {shape!r} has dimension {d!r}; each must be a whole number "
                             ">= 0 (None or a name would be a dynamic dimension, which export does not support)")
    return tuple(out)


def _abstract(x, path: str = "argument") -> ShapeDtypeStruct:
    """The (canonical) ShapeDtypeStruct of the argument leaf at `path` (e.g. "args[0]['w']")."""
    if isinstance(x, ShapeDtypeStruct):
        if not x.is_static():
            raise ValueError(f"irgrad.export: argument {path} is {x}: dynamic shapes are not supported; give every "
                             "dimension as a whole number (export once per shape you need)")
        return ShapeDtypeStruct(x.shape, dtypes.canonicalize_dtype(x.dtype), x.weak_type)
    if isinstance(x, str | bytes) or not (hasattr(x, "shape") or isinstance(x, int | float | bool | np.generic)):
        raise TypeError(f"irgrad.export: argument {path} is {_short_repr(x)} of type {type(x).__name__}, not an "
                        "array, a scalar or a ShapeDtypeStruct; bind non-array arguments with functools.partial")
    dtype, weak = dtypes.dtype_and_weak(x)
    return ShapeDtypeStruct(np.shape(x), dtype, weak)


def _short_repr(x, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[:limit] + "..."


def short_tree(treedef, limit: int = 100) -> str:
    """A PyTreeDef's repr cut to `limit` characters (a list of 890 floats is thousands).

    >>> short_tree(tree_util.tree_structure([[0.0] * 10] * 89), 30)
    'PyTreeDef([[*, *, *, *, *, *, ... (890 leaves)'
    """
    text = repr(treedef)
    return text if len(text) <= limit else f"{text[:limit]}... ({treedef.num_leaves} leaves)"


def _stand_in(s: ShapeDtypeStruct) -> Array:
    """An array with aval `s` for jit to trace (abstractly: the zeros are never read)."""
    return Array(np.zeros(s.shape, s.dtype), weak_type=s.weak_type)


# ------------------------------------------------------------ pytree structure <-> JSON
#
# A leaf is "*", None is null, a tuple / list {"tuple": [...]} / {"list": [...]}, a dict
# {"dict": [[key, child], ...]} in sorted-key order (as flattening), an OrderedDict the
# same in insertion order, a namedtuple {"namedtuple": name, "module": ..., "fields": [...],
# "children": [...]}. Anything else (custom pytree nodes) cannot be described portably.

_KEYED = {dict: "dict", collections.OrderedDict: "OrderedDict"}
_BY_KEYED_NAME = {v: k for k, v in _KEYED.items()}
_SEQUENCES = {tuple: "tuple", list: "list"}
_BY_SEQUENCE_NAME = {v: k for k, v in _SEQUENCES.items()}
_namedtuples: dict = {}   # (module, name, fields) -> type made up on load


def _node(treedef):
    """(node type, aux data) of a PyTreeDef; (None, None) for a leaf."""
    return treedef.node_data() or (None, None)


def tree_to_json(treedef, what: str = "pytree"):
    """A JSON-able description of a PyTreeDef; TypeError for nodes it cannot describe.

    >>> tree_to_json(tree_util.tree_structure(({"b": 1, "a": 2}, [3, None])))
    {'tuple': [{'dict': [['a', '*'], ['b', '*']]}, {'list': ['*', None]}]}
    """
    node_type, aux = _node(treedef)
    children = [tree_to_json(c, what) for c in treedef.children()]
    if node_type is None:
        return "*"
    if node_type is type(None):
        return None
    if node_type in _SEQUENCES:
        return {_SEQUENCES[node_type]: children}
    if node_type in _KEYED:
        for k in aux:
            if not isinstance(k, str | int) or isinstance(k, bool):
                raise TypeError(f"irgrad.export: the {what} has a dict key {k!r} of type {type(k).__name__}; "
                                "artifacts support str and int keys")
        return {_KEYED[node_type]: [[k, c] for k, c in zip(aux, children)]}
    if tree_util.is_namedtuple_type(node_type):
        return {"namedtuple": node_type.__qualname__, "module": node_type.__module__,
                "fields": list(node_type._fields), "children": children}
    raise TypeError(f"irgrad.export: the {what} contains a {node_type.__name__} node; artifacts describe "
                    "tuples, lists, dicts, OrderedDicts, namedtuples and None only. Convert custom pytree "
                    "nodes to those (e.g. a dict of their fields) before exporting.")


def _namedtuple_type(spec):
    """The namedtuple class: the original if its module is already imported (nothing is
    imported on load), else one made up with the same name and fields."""
    name, module, fields = spec["namedtuple"], spec.get("module", ""), tuple(spec["fields"])
    found = sys.modules.get(module)
    for part in name.split("."):
        found = getattr(found, part, None)
    if isinstance(found, type) and tree_util.is_namedtuple_type(found) and tuple(found._fields) == fields:
        return found
    key = (module, name, fields)
    if key not in _namedtuples:
        _namedtuples[key] = collections.namedtuple(name.rsplit(".", 1)[-1], fields)
    return _namedtuples[key]


def tree_from_json(spec):
    """The PyTreeDef `tree_to_json` described.

    >>> tree_from_json({"tuple": ["*", {"dict": [["w", "*"]]}]})
    PyTreeDef((*, {'w': *}))
    """
    PyTreeDef = tree_util.PyTreeDef
    if spec == "*":
        return PyTreeDef(None)
    if spec is None:
        return PyTreeDef(type(None))
    if not isinstance(spec, dict):
        raise ArtifactError(f"unreadable pytree description {spec!r}")
    for name, node_type in _BY_SEQUENCE_NAME.items():
        if name in spec:
            return PyTreeDef(node_type, None, tuple(tree_from_json(c) for c in spec[name]))
    for name, node_type in _BY_KEYED_NAME.items():
        if name in spec:
            keys = tuple(k for k, _ in spec[name])
            return PyTreeDef(node_type, keys, tuple(tree_from_json(c) for _, c in spec[name]))
    if "namedtuple" in spec:
        return PyTreeDef(_namedtuple_type(spec), None, tuple(tree_from_json(c) for c in spec["children"]))
    raise ArtifactError(f"unreadable pytree description {spec!r}")


def avals_to_json(avals) -> list:
    return [{"shape": list(a.shape), "dtype": np.dtype(a.dtype).name, "weak_type": bool(a.weak_type)}
            for a in avals]


def avals_from_json(items) -> tuple:
    return tuple(ShapeDtypeStruct(a["shape"], a["dtype"], a.get("weak_type", False)) for a in items)


# ------------------------------------------------------------------------- export


def _platform(target, device) -> str:
    if device is not None:   # a Device, or a name such as "vulkan" / "cuda:1" (no device needed to compile)
        platform = getattr(device, "platform", None) or str(device).partition(":")[0]
    else:
        platform = target or "cpu"
    if platform not in PLATFORMS:
        raise ValueError(f"irgrad.export: unknown target {platform!r}; expected one of {', '.join(PLATFORMS)}")
    return platform


def _plain_function(fn):
    """The Python function to trace: a jit-wrapped one is unwrapped (export traces
    abstractly anyway); static arguments cannot travel in an artifact."""
    from .api import JitFunction
    if isinstance(fn, JitFunction):
        if fn.static_argnums or fn.static_argnames:
            raise TypeError("irgrad.export: cannot export a jit function with static arguments; bind them with "
                            "functools.partial and export the result")
        return fn.fun
    return fn


def _bake_captures(text: str, n_args: int, captures, capture_avals, meta: dict) -> str:
    """The module with @main's captured-constant arguments (after the first `n_args`)
    replaced by dense constants, and `meta` stored in its reflection."""
    from irgrad.passes.ir import building, constant, elem_type, ir, verify

    from .core import host_value

    with building():
        module = ir.Module.parse(text)
        main = next(op for op in module.body.operations
                    if op.operation.name == "func.func" and op.attributes["sym_name"].value == "main")
        block = main.regions[0].blocks[0]
        if len(block.arguments) != n_args + len(captures):
            raise AssertionError(f"@main has {len(block.arguments)} arguments; expected {n_args} + "
                                 f"{len(captures)} captured")
        for i in reversed(range(len(captures))):
            value = np.asarray(host_value(captures[i]), capture_avals[i].dtype)
            with ir.InsertionPoint.at_block_begin(block):
                c = constant(value, elem_type(value.dtype))
            block.arguments[n_args + i].replace_all_uses_with(c)
            block.erase_argument(n_args + i)
        results = ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value).results
        main.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get([a.type for a in block.arguments], list(results)))
        main.attributes["iree.reflection"] = ir.DictAttr.get(
            {artifact.ARTIFACT_KEY: ir.StringAttr.get(json.dumps(meta, sort_keys=True))})
        verify(module, "exported main")
        return str(module)


def export(fn, *args, target: str | None = None, device=None, cpu: str = "host") -> Exported:
    """Trace and compile `fn` for `args` into a self-contained artifact.

    `args` are pytrees of arrays or `ShapeDtypeStruct`s (only shapes and dtypes are
    used). `target` is "cpu" (default), "vulkan" or "cuda" (or pass `device=`); for
    CPU, `cpu` is LLVM's target CPU ("host": this machine's; "generic": any x86-64 /
    AArch64). Transformed functions export the same way: `export(grad(loss), ...)`.

    >>> import irgrad, irgrad.numpy as jnp, numpy as np
    >>> exp = irgrad.export(lambda x: jnp.sin(x) * 2, irgrad.ShapeDtypeStruct((3,), np.float32))
    >>> exp.in_avals, exp.out_avals
    ((ShapeDtypeStruct(shape=(3,), dtype=float32),), (ShapeDtypeStruct(shape=(3,), dtype=float32),))
    >>> exp.save("sin.vmfb")                                   # doctest: +SKIP
    >>> irgrad.load("sin.vmfb")(np.zeros(3, np.float32))       # doctest: +SKIP
    Array([0., 0., 0.], dtype=float32)
    """
    from irgrad.runtime.compiler import compile_mlir, compiler_version

    from .api import JitFunction

    platform = _platform(target, device)
    if not callable(fn):
        raise TypeError(f"irgrad.export: expected a function to export, got {_short_repr(fn)}")
    if platform == "cpu":
        from irgrad.runtime.cpus import check_cpu
        check_cpu(cpu, "irgrad.export: cpu")
    leaves, in_tree = tree_util.tree_flatten(args)
    in_tree_json = tree_to_json(in_tree, "input pytree")
    in_avals = [_abstract(x, p) for x, p in zip(leaves, tree_util.leaf_paths(in_tree, "args"))]
    fun = _plain_function(fn)
    name = getattr(fun, "__name__", None) or type(fun).__name__
    jitted = JitFunction(fun, name=name)   # traced only (abstractly); compiled below for `platform`
    lowered = jitted.lower(*tree_util.tree_unflatten(in_tree, [_stand_in(a) for a in in_avals]))
    text, traced = lowered.as_text(), lowered.traced
    meta = {
        "format": artifact.FORMAT_VERSION, "irgrad": artifact.irgrad_version(), "function": name,
        "target": platform, "backend": backend(platform).target, "iree_compiler": compiler_version(),
        "in_tree": in_tree_json, "out_tree": tree_to_json(lowered.out_tree, "output pytree"),
        "in_avals": avals_to_json(traced.in_avals), "out_avals": avals_to_json(traced.out_avals),
    }
    flags = []
    if platform == "cpu":
        meta.update(machine=artifact.host_machine(), cpu=cpu)
        flags = [f"--iree-llvmcpu-target-cpu={cpu}"]
    text = _bake_captures(text, len(traced.in_avals), traced.captures, traced.capture_avals, meta)
    vmfb = compile_mlir(text, backend(platform).target, extra_flags=flags, name=f"export_{name}")
    return Exported(vmfb, meta, text)


class _Signature:
    """What Exported and Loaded share: the metadata, read into pytrees and avals."""

    def _read(self, meta: dict):
        self.meta = meta
        self.fun_name = meta.get("function", "main")
        self.target = meta["target"]
        self.in_tree = tree_from_json(meta["in_tree"])
        self.out_tree = tree_from_json(meta["out_tree"])
        self.in_avals = avals_from_json(meta["in_avals"])
        self.out_avals = avals_from_json(meta["out_avals"])

    def signature(self) -> str:
        """`name(in pytree) -> out pytree`, leaves written as dtype[shape].

        >>> load("model.vmfb").signature()                      # doctest: +SKIP
        "loss(({'b': f32[10], 'w': f32[3,10]}, f32[2,3])) -> ..."
        """
        ins = self.in_tree.unflatten([_Leaf(a) for a in self.in_avals])
        outs = self.out_tree.unflatten([_Leaf(a) for a in self.out_avals])
        args = ", ".join(map(repr, ins)) if type(ins) is tuple else f"*{ins!r}"
        return f"{self.fun_name}({args}) -> {outs!r}"


class _Leaf:
    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        a = self.aval
        return a.str_short() + ("{weak}" if a.weak_type else "")


class Exported(_Signature):
    """An exported function: `.save(path)`, `.serialize()`, `.mlir_text()`, the
    signature (`in_tree`, `out_tree`, `in_avals`, `out_avals`, `target`), and a call
    that runs the artifact exactly as `irgrad.load` would."""

    def __init__(self, vmfb: bytes, meta: dict, text: str):
        self._vmfb, self._text, self._loaded = vmfb, text, None
        self._read(meta)

    def serialize(self) -> bytes:
        """The .vmfb bytes (`irgrad.load` takes them as they are)."""
        return self._vmfb

    def save(self, path) -> None:
        """Write the .vmfb to `path`."""
        with open(os.fspath(path), "wb") as f:
            f.write(self._vmfb)

    def mlir_text(self) -> str:
        """The module compiled into the artifact: `func.func @main` with its metadata."""
        return self._text

    @property
    def sha256(self) -> str:
        """The SHA-256 of the .vmfb: publish it with the file, for `load(expected_sha256=)`."""
        return artifact.sha256(self._vmfb)

    def __call__(self, *args):
        if self._loaded is None:
            self._loaded = load(self._vmfb)
        return self._loaded(*args)

    def __repr__(self):
        return f"Exported({self.signature()}, target={self.target})"


# --------------------------------------------------------------------------- load


class Loaded(_Signature):
    """An artifact loaded for a device; call it with the pytrees it was exported for."""

    def __init__(self, data: bytes, device=None, name: str = "<bytes>"):
        self.device = devices.resolve(device) if device is not None else None
        platform, index = (self.device.platform, self.device.id) if self.device is not None else (None, 0)
        self._artifact = artifact.Artifact(data, platform, index, name)
        self._read(self._artifact.meta)
        self.name = name
        self.sha256 = artifact.sha256(data)
        self.device = self.device or devices.resolve(self.target)
        self._paths = list(tree_util.leaf_paths(self.in_tree, "args"))

    @property
    def versions(self) -> dict:
        """irgrad and IREE versions that wrote the artifact, and those reading it."""
        m = self.meta
        return {"artifact_format": m["format"], "exported_by_irgrad": m["irgrad"],
                "iree_compiler": m.get("iree_compiler", "unknown"), "irgrad": artifact.irgrad_version(),
                "iree_runtime": artifact.runtime_version()}

    def _input(self, path, x, want):
        if isinstance(x, Array) and x.dtype == want.dtype and x.shape == want.shape:
            buffer = x._buffer_on(self.device)
            if buffer is not None:
                return buffer
        try:
            if isinstance(x, str | bytes):
                raise TypeError
            dtype, _ = dtypes.dtype_and_weak(x)
        except (TypeError, ValueError):
            raise TypeError(f"irgrad artifact {self.name}: argument {path} is {_short_repr(x)} of type "
                            f"{type(x).__name__}, not an array; the function was exported for {want.str_short()}") \
                from None
        if tuple(np.shape(x)) != want.shape or dtype != want.dtype:
            raise TypeError(f"irgrad artifact {self.name}: argument {path} is "
                            f"{ShapeDtypeStruct(np.shape(x), dtype).str_short()}, but the function was exported "
                            f"for {want.str_short()}")
        a = np.asarray(x, dtype=want.dtype)
        return a if a.flags.c_contiguous else a.copy()

    def _check_structure(self, args, kwargs) -> None:
        """TypeError naming the first argument whose pytree structure is not the exported one."""
        if kwargs:
            raise TypeError(f"irgrad artifact {self.name} takes positional arguments only (it was exported for "
                            f"{short_tree(self.in_tree)}); got keyword argument(s) {', '.join(map(repr, kwargs))}")
        want = self.in_tree.children() if _node(self.in_tree)[0] is tuple else None
        if want is None or len(want) != len(args):
            raise TypeError(f"irgrad artifact {self.name} takes {len(want) if want else 'its'} positional arguments "
                            f"with the pytree structure {short_tree(self.in_tree)}; got {len(args)}")
        for i, (x, w) in enumerate(zip(args, want)):
            got = tree_util.tree_structure(x)
            if got != w:
                hint = "; pass one array (np.asarray) for a leaf" if w.num_leaves == 1 and got.num_leaves > 1 else ""
                raise TypeError(f"irgrad artifact {self.name}: argument args[{i}] has the pytree structure "
                                f"{short_tree(got)}, but the function was exported for {short_tree(w)}{hint}")
        raise TypeError(f"irgrad artifact {self.name} takes arguments with the pytree structure "
                        f"{short_tree(self.in_tree)}; got {short_tree(tree_util.tree_structure(args))}")

    def __call__(self, *args, **kwargs):
        leaves, tree = tree_util.tree_flatten(args)
        if kwargs or tree != self.in_tree:
            self._check_structure(args, kwargs)
        inputs = [self._input(p, x, a) for p, x, a in zip(self._paths, leaves, self.in_avals)]
        outs = memory.run(self._artifact, inputs, f"artifact {self.name}", self.device, self.out_avals, self.out_tree)
        arrays = [Array(None, a.weak_type, device_array=o, dtype=a.dtype, shape=a.shape, placement=self.device)
                  for o, a in zip(outs, self.out_avals)]
        return tree_util.tree_unflatten(self.out_tree, arrays)

    def __repr__(self):
        return f"Loaded({self.signature()}, target={self.target})"


def load(path_or_bytes, device=None, *, expected_sha256: str | None = None) -> Loaded:
    """Load an artifact written by `export(...).save(path)` (a path or the bytes).

    An artifact is code: a CPU artifact holds native machine code that runs in this
    process with all its rights, as unpickling a file or `torch.load` can run code. Load
    only artifacts you made or trust; `expected_sha256=` (the hex digest the exporter
    published: `Exported.sha256`, `irgrad inspect`) refuses any other bytes before
    anything is parsed or run.

    Needs only iree-base-runtime. `device` is a platform name ("cpu", "vulkan",
    "cuda") or a device object; by default the artifact's target. A corrupt file, one
    from an incompatible irgrad or one whose SHA-256 is not `expected_sha256` raises
    `irgrad.ArtifactError` (a ValueError).

    >>> f = irgrad.load("model.vmfb", expected_sha256="9f2c...")   # doctest: +SKIP
    >>> grads, aux = f(params, x)                              # doctest: +SKIP
    """
    data, name = artifact.read_bytes(path_or_bytes)
    if expected_sha256 is not None:
        artifact.check_sha256(data, expected_sha256, name)
    return Loaded(data, device, name)
