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
import json
import os
import re
import sys

import numpy as np

from . import devices as _devices
from . import tree_util
from .export import ShapeDtypeStruct, export, leaf_paths, load, tree_from_json

# Short dtype names accepted by --arg (any NumPy dtype name works too: float32, int8, ...).
DTYPES = {"f16": "float16", "f32": "float32", "f64": "float64", "i8": "int8", "i16": "int16", "i32": "int32",
          "i64": "int64", "u8": "uint8", "u16": "uint16", "u32": "uint32", "bool": "bool", "i1": "bool"}
_ARG = re.compile(r"^\s*([A-Za-z0-9_]+)\s*\[([0-9,\s]*)\]\s*$")


class CLIError(Exception):
    """A user mistake on the command line: printed without a traceback."""


def parse_arg(text: str) -> ShapeDtypeStruct:
    """`f32[64,10]` -> ShapeDtypeStruct((64, 10), float32); `f32[]` is a scalar.

    >>> parse_arg("i32[3]")
    ShapeDtypeStruct(shape=(3,), dtype=int32)
    """
    m = _ARG.match(text)
    if m is None:
        raise CLIError(f"--arg {text!r}: expected DTYPE[SHAPE], e.g. f32[64,10] or f32[] for a scalar")
    name, dims = m.groups()
    try:
        dtype = np.dtype(DTYPES.get(name, name))
    except TypeError:
        raise CLIError(f"--arg {text!r}: unknown dtype {name!r} (use f32, i32, bool, ... or a NumPy name)") from None
    shape = tuple(int(d) for d in dims.split(",") if d.strip())
    return ShapeDtypeStruct(shape, dtype)


def load_function(spec: str):
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


# ------------------------------------------------------------------- subcommands


def cmd_devices(args) -> int:
    for platform in _devices.PLATFORMS:
        try:
            found = _devices.devices(platform)
        except RuntimeError as e:
            print(f"{platform}: unavailable ({str(e).splitlines()[0]})")
            continue
        for d in found:
            print(f"{platform}:{d.id}  {d!r}  {d.device_kind}")
    return 0


def cmd_export(args) -> int:
    fn = load_function(args.function)
    if args.grad:
        from .api import grad
        fn = grad(fn, argnums=0, has_aux=args.has_aux)
    avals = [parse_arg(a) for a in args.arg]
    exported = export(fn, *avals, target=args.target, cpu=args.cpu)
    exported.save(args.output)
    print(f"wrote {args.output}: {exported.signature()} for {exported.target} "
          f"({os.path.getsize(args.output)} bytes)")
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
    lines += [f"  {i}: {p} {show(a)}" for i, (p, a) in enumerate(zip(leaf_paths(ins), meta["in_avals"]))]
    lines.append(f"outputs:   {outs}")
    lines += [f"  {i}: {p} {show(a)}" for i, (p, a) in enumerate(zip(leaf_paths(outs, "out"), meta["out_avals"]))]
    return lines


def cmd_inspect(args) -> int:
    from irgrad.runtime import artifact
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
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CLIError(f"--input {path}: cannot read a .npy array ({e})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise CLIError(f"--input {path}: an .npz archive; pass one .npy file per input")
    return x


def cmd_run(args) -> int:
    fn = load(args.artifact, device=args.device, expected_sha256=args.sha256)
    inputs = [_read_input(p) for p in args.input]
    if len(inputs) != len(fn.in_avals):
        raise CLIError(f"{args.artifact} takes {len(fn.in_avals)} inputs ({fn.in_tree}); got {len(inputs)} --input")
    outs = fn(*tree_util.tree_unflatten(fn.in_tree, inputs))
    leaves = [np.asarray(x) for x in tree_util.tree_leaves(outs)]
    paths = list(leaf_paths(fn.out_tree, "out"))
    if args.output:
        if args.output.endswith(".npy"):
            if len(leaves) != 1:
                raise CLIError(f"-o {args.output}: {len(leaves)} outputs need an .npz file")
            np.save(args.output, leaves[0])
        else:
            np.savez(args.output, **dict(zip(paths, leaves)))
        print(f"wrote {args.output}: {', '.join(paths)}")
        return 0
    for p, x in zip(paths, leaves):
        print(f"{p}: {x.dtype.name}{list(x.shape)}")
        print(np.array2string(x, separator=", ", threshold=args.threshold))
    return 0


# ----------------------------------------------------------------------- the parser


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="irgrad", description="irgrad: list devices; export, inspect and run "
                                "ahead-of-time artifacts (.vmfb)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list the devices IREE's runtime finds").set_defaults(run=cmd_devices)

    e = sub.add_parser("export", help="trace and compile MODULE:FUNCTION into a .vmfb")
    e.add_argument("function", metavar="MODULE:FUNCTION", help="e.g. model.py:loss or mypkg.model:loss")
    e.add_argument("--arg", action="append", default=[], metavar="DTYPE[SHAPE]",
                   help="one per positional argument, e.g. f32[64,10]; f32[] is a scalar")
    e.add_argument("--grad", action="store_true", help="export grad(FUNCTION) (w.r.t. the first argument)")
    e.add_argument("--has-aux", action="store_true", help="with --grad: FUNCTION returns (loss, aux)")
    e.add_argument("--target", default="cpu", choices=["cpu", "vulkan", "cuda"])
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
    r.add_argument("--device", default=None, help="cpu, vulkan, cuda or platform:index (default: the target)")
    r.add_argument("--sha256", metavar="HEX", help="run only if the artifact's SHA-256 is HEX (see `inspect`)")
    r.add_argument("--threshold", type=int, default=1000, help="print arrays with more elements summarized")
    r.set_defaults(run=cmd_run)
    return p


def main(argv=None) -> int:
    """Entry point of the `irgrad` console script and `python -m irgrad`.

    >>> main(["devices"])                                      # doctest: +SKIP
    cpu:0  CpuDevice(id=0)  cpu
    """
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (CLIError, ValueError, TypeError, ImportError, OSError, RuntimeError) as e:
        print(f"irgrad {args.command}: error: {e}", file=sys.stderr)
        return 1
