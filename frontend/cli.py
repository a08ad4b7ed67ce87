"""The `irgrad` command: devices, and ahead-of-time artifacts (export, inspect, run).

    irgrad devices
    irgrad export model.py:loss --arg f32[64,10] --arg f32[10] --grad -o loss_grad.vmfb
    irgrad inspect loss_grad.vmfb
    irgrad run loss_grad.vmfb --input w.npy --input b.npy -o grads.npz

`export` takes MODULE:FUNCTION, where MODULE is an importable module name or a path
to a .py file, and one `--arg DTYPE[SHAPE]` per positional argument. `inspect` and
`run` need only iree-base-runtime. An artifact is native code: `inspect` shows its
SHA-256 without running anything, `run --sha256 HEX` runs only the artifact expected.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from . import devices as _devices
from . import dtypes, files, tree_util
from .export import ShapeDtypeStruct, export, load, tree_from_json
from .tree_util import leaf_paths

# Short dtype names accepted by --arg (any NumPy dtype name works too: float32, int8, ...).
DTYPES = {"f16": "float16", "f32": "float32", "f64": "float64", "i8": "int8", "i16": "int16", "i32": "int32",
          "i64": "int64", "u8": "uint8", "u16": "uint16", "u32": "uint32", "bool": "bool", "i1": "bool"}
_ARG = re.compile(r"^\s*([A-Za-z0-9_]+)\s*\[([0-9,\s]*)\]\s*$")
# A shape with a dimension that is not a whole number: f32[b,10], f32[?], f32[None], f32[-1].
_DYNAMIC = re.compile(r"^\s*[A-Za-z0-9_]+\s*\[(?:[0-9\s]*,)*\s*([^\],]*[^\],0-9\s][^\],]*)")


class CLIError(Exception):
    """A user mistake on the command line: printed without a traceback."""


def parse_arg(text: str) -> ShapeDtypeStruct:
    """`f32[64,10]` -> ShapeDtypeStruct((64, 10), float32); `f32[]` is a scalar.

    >>> parse_arg("i32[3]")
    ShapeDtypeStruct(shape=(3,), dtype=int32)
    """
    m = _ARG.match(text)
    if m is None:
        dynamic = _DYNAMIC.match(text)
        if dynamic:
            raise CLIError(f"--arg {text!r}: dimension {dynamic.group(1).strip()!r} is not a size; dynamic shapes "
                           "are not supported: give every dimension as a whole number, e.g. f32[64,10]")
        raise CLIError(f"--arg {text!r}: expected DTYPE[SHAPE], e.g. f32[64,10] or f32[] for a scalar")
    name, dims = m.groups()
    try:
        dtype = np.dtype(DTYPES.get(name, name))
    except TypeError:
        raise CLIError(f"--arg {text!r}: unknown dtype {name!r} (use f32, i32, bool, ... or a NumPy name)") from None
    shape = tuple(int(d) for d in dims.split(",") if d.strip())
    return ShapeDtypeStruct(shape, dtype)


def load_function(spec: str) -> Callable[..., Any]:
    """The function named by MODULE:FUNCTION (MODULE a module name or a .py path)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise CLIError(f"{spec!r}: expected MODULE:FUNCTION, e.g. model.py:loss or mypkg.model:loss")
    if module_name.endswith(".py") or os.sep in module_name:
        path = os.path.abspath(module_name)
        if not os.path.exists(path):
            raise CLIError(f"{spec!r}: no file {path}")
        name = os.path.splitext(os.path.basename(path))[0]
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        sys.path.insert(0, os.path.dirname(path))   # its sibling imports work as under `python file.py`
        loader.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise CLIError(f"{spec!r}: {module_name} has no attribute {attr!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise CLIError(f"{spec!r}: {attr} is not callable")
    return fn


def check_arity(spec: str, fn: Callable[..., Any], n_args: int) -> None:
    """CLIError unless `fn` can be called with `n_args` positional arguments (one per --arg)."""
    try:
        inspect.signature(fn).bind(*range(n_args))
    except TypeError as e:
        raise CLIError(f"{spec}: {getattr(fn, '__name__', 'the function')}{inspect.signature(fn)} cannot take "
                       f"{n_args} --arg ({e}); give one --arg DTYPE[SHAPE] per positional argument") from None
    except ValueError:   # no signature (a builtin): the call will tell
        pass


# ------------------------------------------------------------------- subcommands


def cmd_devices(args: argparse.Namespace) -> int:
    for platform in _devices.PLATFORMS:
        try:
            found = _devices.devices(platform)
        except RuntimeError as e:
            print(f"{platform}: unavailable ({str(e).splitlines()[0]})")
            continue
        for d in found:
            print(f"{platform}:{d.id}  {d!r}  {d.device_kind}")
    return 0


def check_writable(flag: str, path: str) -> None:
    """CLIError unless `path` can be created or replaced: checked before any work is done."""
    why = files.unwritable(path)
    if why:
        raise CLIError(f"{flag} {path}: cannot write there: {why}")


def save_safely(flag: str, path: str, write: Callable[[str], None]) -> str:
    """`write(path)`; if that fails after the work is done, write to a new temporary file
    instead and say where on stderr. Returns the path written."""
    return files.write_or_fall_back(flag, path, write, speaker="irgrad: ")


def cmd_export(args: argparse.Namespace) -> int:
    if args.has_aux and not args.grad:
        raise CLIError("--has-aux only applies with --grad (it says FUNCTION returns (loss, aux)); add --grad or "
                       "drop --has-aux")
    avals = [parse_arg(a) for a in args.arg]
    check_writable("-o", args.output)
    if args.target == "cpu":
        from irgrad.runtime.cpus import check_cpu
        check_cpu(args.cpu, "--cpu")
    fn = load_function(args.function)
    check_arity(args.function, fn, len(avals))
    if args.grad:
        from .api import grad
        fn = grad(fn, argnums=0, has_aux=args.has_aux)
    exported = export(fn, *avals, target=args.target, cpu=args.cpu)
    path = save_safely("-o", args.output, exported.save)
    print(f"wrote {path}: {exported.signature()} for {exported.target} ({os.path.getsize(path)} bytes)")
    return 0


def _describe(meta: dict, path: str, digest: str) -> list[str]:
    ins, outs = (tree_from_json(meta[k]) for k in ("in_tree", "out_tree"))
    show = lambda a: f"{a['dtype']}[{','.join(map(str, a['shape']))}]" + ("  (weak type)" if a["weak_type"] else "")
    lines = [f"artifact:  {path} ({os.path.getsize(path)} bytes)",
             f"sha256:    {digest}",
             f"function:  {meta.get('function', 'main')}  (entry @main)",
             f"target:    {meta['target']} ({meta.get('backend', '?')}"
             + (f", CPU {meta.get('cpu')} on {meta.get('machine')}" if meta["target"] == "cpu" else "") + ")",
             f"versions:  artifact format {meta['format']}, exported by irgrad {meta['irgrad']} with IREE compiler "
             f"{meta.get('iree_compiler', '?')}",
             f"inputs:    {ins} (in iree-run-module --input order)"]
    lines += [f"  {i}: {p} {show(a)}" for i, (p, a) in enumerate(zip(leaf_paths(ins, "args"), meta["in_avals"]))]
    lines.append(f"outputs:   {outs}")
    lines += [f"  {i}: {p} {show(a)}" for i, (p, a) in enumerate(zip(leaf_paths(outs, "out"), meta["out_avals"]))]
    return lines


def cmd_inspect(args: argparse.Namespace) -> int:
    from irgrad.runtime import artifact
    check_readable(args.artifact)
    data, name = artifact.read_bytes(args.artifact)
    meta, digest = artifact.read_metadata(data, name), artifact.sha256(data)   # parsed, not run
    if args.json:
        print(json.dumps({**meta, "sha256": digest}, indent=2, sort_keys=True))
        return 0
    print("\n".join(_describe(meta, name, digest)))
    print(f"this irgrad {artifact.irgrad_version()} with IREE runtime {artifact.runtime_version()}")
    print(f"note: running an artifact runs its native code in your process; run it only if you trust its source "
          f"(`irgrad run --sha256 {digest} ...` runs this file and no other)")
    return 0


def _read_input(path: str) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise CLIError(f"--input {path}: cannot read it ({e.strerror or e})") from None
    if head[:4] == b"PK\x03\x04":
        raise CLIError(f"--input {path}: an .npz archive; pass one .npy file per input")
    if head != b"\x93NUMPY":
        raise CLIError(f"--input {path}: not a .npy file (it starts with {head!r}); save each input with np.save")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CLIError(f"--input {path}: cannot read a .npy array ({e})") from None


def _converted(path: str, x: np.ndarray, want: ShapeDtypeStruct) -> np.ndarray:
    """`x` as the artifact's input dtype when JAX would convert it (float64 -> float32, int64 ->
    int32 with jax_enable_x64=False, as `jit` does), with a warning on stderr; other arrays as they are."""
    if x.dtype == want.dtype or dtypes.canonicalize_dtype(x.dtype) != want.dtype:
        return x
    print(f"irgrad run: warning: --input {path} is {x.dtype.name}; converted to the artifact's {want.dtype.name} "
          f"(as JAX converts {x.dtype.name} inputs with jax_enable_x64=False); save it as {want.dtype.name} to "
          "silence this", file=sys.stderr)
    return x.astype(want.dtype)


def _save_outputs(path: str, paths: list[str], leaves: list[np.ndarray]) -> Callable[[str], None]:
    """A function writing the outputs to `path` (.npy for one output, else .npz keyed by output path)."""
    def write(p: str) -> None:
        with open(p, "wb") as f:   # (a file object: NumPy adds no extension to the name)
            if path.endswith(".npy"):
                np.save(f, leaves[0])
            else:
                np.savez(f, **dict(zip(paths, leaves)))
    return write


def check_readable(path: str) -> None:
    if not os.path.isfile(path):
        raise CLIError(f"{path}: {'a directory' if os.path.isdir(path) else 'no such file'}; expected an artifact "
                       "(.vmfb) written by `irgrad export`")


def cmd_run(args: argparse.Namespace) -> int:
    check_readable(args.artifact)
    if args.output:
        check_writable("-o", args.output)
    if args.device is not None:
        try:
            _devices.resolve(args.device)
        except (RuntimeError, ValueError) as e:
            raise CLIError(f"--device {args.device!r}: {e}") from None
    fn = load(args.artifact, device=args.device, expected_sha256=args.sha256)
    paths = list(leaf_paths(fn.out_tree, "out"))
    if args.output and args.output.endswith(".npy") and len(paths) != 1:
        raise CLIError(f"-o {args.output}: {len(paths)} outputs need an .npz file")
    inputs = [_read_input(p) for p in args.input]
    if len(inputs) != len(fn.in_avals):
        raise CLIError(f"{args.artifact} takes {len(fn.in_avals)} inputs ({fn.in_tree}); got {len(inputs)} --input")
    inputs = [_converted(p, x, a) for p, x, a in zip(args.input, inputs, fn.in_avals)]
    outs = fn(*tree_util.tree_unflatten(fn.in_tree, inputs))
    leaves = [np.asarray(x) for x in tree_util.tree_leaves(outs)]
    if args.output:
        written = save_safely("-o", args.output, _save_outputs(args.output, paths, leaves))
        print(f"wrote {written}: {', '.join(paths)}")
        return 0
    for p, x in zip(paths, leaves):
        print(f"{p}: {x.dtype.name}{list(x.shape)}")
        print(np.array2string(x, separator=", ", threshold=args.threshold))
    return 0


# ----------------------------------------------------------------------- the parser


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="irgrad", description="irgrad: list devices; export, inspect and run "
                                "ahead-of-time artifacts (.vmfb)")
    p.add_argument("--traceback", action="store_true", help="on an error, print Python's whole traceback")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list the devices IREE's runtime finds").set_defaults(run=cmd_devices)

    e = sub.add_parser("export", help="trace and compile MODULE:FUNCTION into a .vmfb")
    e.add_argument("function", metavar="MODULE:FUNCTION", help="e.g. model.py:loss or mypkg.model:loss")
    e.add_argument("--arg", action="append", default=[], metavar="DTYPE[SHAPE]",
                   help="one per positional argument, e.g. f32[64,10]; f32[] is a scalar")
    e.add_argument("--grad", action="store_true", help="export grad(FUNCTION) (w.r.t. the first argument)")
    e.add_argument("--has-aux", action="store_true", help="with --grad: FUNCTION returns (loss, aux)")
    e.add_argument("--target", default="cpu", choices=list(_devices.PLATFORMS))
    e.add_argument("--cpu", default="host", help="LLVM target CPU for --target cpu (host, generic, ...)")
    e.add_argument("-o", "--output", required=True, metavar="FILE.vmfb")
    e.set_defaults(run=cmd_export)

    i = sub.add_parser("inspect", help="print an artifact's signature, target, versions and SHA-256 (runs nothing)")
    i.add_argument("artifact", metavar="FILE.vmfb")
    i.add_argument("--json", action="store_true", help="print the raw metadata")
    i.set_defaults(run=cmd_inspect)

    r = sub.add_parser("run", help="run an artifact on .npy inputs; print or save the outputs")
    r.add_argument("artifact", metavar="FILE.vmfb")
    r.add_argument("--input", action="append", default=[], metavar="X.npy",
                   help="one per input leaf, in the order `irgrad inspect` lists")
    r.add_argument("-o", "--output", metavar="OUT.npz", help="save the outputs (.npz, or .npy for one output)")
    r.add_argument("--device", default=None,
                   help=f"{', '.join(_devices.PLATFORMS)} or platform:index (default: the target)")
    r.add_argument("--sha256", metavar="HEX", help="run only if the artifact's SHA-256 is HEX (see `inspect`)")
    r.add_argument("--threshold", type=int, default=1000, help="print arrays with more elements summarized")
    r.set_defaults(run=cmd_run)
    return p


# Folders whose frames are irgrad's own: an error's location is the innermost frame outside them.
_OWN = tuple(os.path.abspath(d) + os.sep for name in ("irgrad", "irgrad.frontend", "irgrad.passes", "irgrad.runtime")
             for d in importlib.util.find_spec(name).submodule_search_locations)
_LIBRARIES = tuple({sysconfig.get_paths()[k] + os.sep for k in ("stdlib", "purelib", "platlib")})
_MAX_MESSAGE = 600
# Errors irgrad raises about the input with a message that says it all (no type name printed).
_PLAIN = (ValueError, TypeError, OSError)


def user_frame(tb: TracebackType | None) -> str | None:
    """`file:line` of the innermost traceback frame in the user's code (not irgrad, the standard
    library, an installed package or importlib), or None."""
    found = None
    for frame in traceback.extract_tb(tb):
        name = os.path.abspath(frame.filename) if not frame.filename.startswith("<") else ""
        if name and not name.startswith(_OWN) and not name.startswith(_LIBRARIES):
            found = f"{os.path.relpath(name) if name.startswith(os.getcwd()) else name}:{frame.lineno}"
    return found


def describe_error(e: BaseException) -> str:
    """One line: where in the user's code (file:line) it happened, the error type unless it is a
    command-line mistake, and the message (its lines joined, cut at _MAX_MESSAGE characters)."""
    text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + " ..."
    if isinstance(e, CLIError):
        return text
    where = user_frame(e.__traceback__)
    if where:
        return f"{where}: {type(e).__name__}: {text}"
    return text if isinstance(e, _PLAIN) else f"{type(e).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `irgrad` console script and `python -m irgrad`. Every error is one
    line on stderr (exit status 1) naming the user's file:line when it came from their code;
    `--traceback` prints the whole traceback instead.

    >>> main(["devices"])                                      # doctest: +SKIP
    cpu:0  CpuDevice(id=0)  cpu
    """
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as e:   # the user's module, tracing, compiling, reading files: one line each
        if args.traceback:
            raise
        print(f"irgrad {args.command}: error: {describe_error(e)}", file=sys.stderr)
        return 1
