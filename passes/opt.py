"""`irgrad-opt`: run the reverse- or forward-mode pass on an MLIR file from the command line.

    $ irgrad-opt f.mlir --vjp f --wrt 0 --cleanup -o f_vjp.mlir
    $ iree-compile f_vjp.mlir --iree-hal-target-backends=llvm-cpu -o f.vmfb

reads a module (a file, or `-` for stdin), adds
@f_vjp(args..., one cotangent per result) -> (results..., one cotangent per wrt arg)
(or, with --jvp f, @f_jvp(args..., one tangent per wrt arg) -> (results..., one
tangent per float result); with --vmap f --in-axes 0,none --axis-size N, @f_batched)
and prints the module. Every error (a parse error, an unknown function, an op
without a derivative rule, a verifier failure) is one line on stderr and exit
status 1. Only passes/ and runtime/ are used: no Python tracing is involved.
"""

from __future__ import annotations

import argparse
import sys

from irgrad.runtime.errors import IRError

from . import batching, forward, reverse
from .ad import dtype_of_type, lookup
from .cleanup import cleanup
from .ir import building, context, ir, is_float


class UsageError(Exception):
    """A bad command line or input, reported as one line."""


def parse_module(text: str, source: str) -> ir.Module:
    """Parse MLIR text; a syntax error becomes a UsageError naming `source` and the line."""
    try:
        return ir.Module.parse(text, context=context())
    except ir.MLIRError as e:
        diags = [f"{d.location}: {d.message}" for d in e.error_diagnostics] or [str(e)]
        raise UsageError(f"cannot parse {source}: {'; '.join(diags)}") from None


def parse_wrt(spec: str | None) -> list[int] | None:
    """'0,2' -> [0, 2]; None stays None."""
    if spec is None:
        return None
    try:
        return [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--wrt expects comma-separated argument indices, got {spec!r}") from None


def float_args(module: ir.Module, name: str) -> list[int]:
    """Indices of @name's float (tensor) arguments."""
    fn = lookup(module, name)
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    return [i for i, t in enumerate(ftype.inputs) if is_float(dtype_of_type(t))]


def check_wrt(module: ir.Module, name: str, wrt: list[int]) -> None:
    fn = lookup(module, name)
    n_args = len(ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value).inputs)
    bad = [i for i in wrt if not 0 <= i < n_args]
    if bad:
        raise UsageError(f"--wrt {bad[0]} is out of range: @{name} has {n_args} arguments")
    floats = float_args(module, name)
    if any(i not in floats for i in wrt):
        raise UsageError(f"--wrt {next(i for i in wrt if i not in floats)}: argument is not a float tensor")


PASSES = {"vjp": reverse.vjp, "jvp": forward.jvp}


def transform(text: str, name: str, wrt=None, clean: bool = False, source: str = "<input>", mode: str = "vjp",
              strong_zero: bool = False) -> str:
    """Add @{name}_vjp (mode "jvp": @{name}_jvp) to the module in `text` and return the new module's text.

    >>> src = "func.func @sq(%x: f32) -> f32 { %y = arith.mulf %x, %x : f32  return %y : f32 }"
    >>> "func.func @sq_vjp(%arg0: f32, %arg1: f32) -> (f32, f32)" in transform(src, "sq")
    True
    """
    with building():
        module = parse_module(text, source)
        wrt = float_args(module, name) if wrt is None else wrt
        if not wrt:
            raise UsageError(f"@{name} has no float arguments to differentiate: --{mode} needs a float tensor argument "
                             "(integer and boolean values have no derivative, as in JAX)")
        check_wrt(module, name, wrt)
        new_name = PASSES[mode](module, name, wrt=wrt, strong_zero=strong_zero)
        vjp_fn = lookup(module, new_name)
        if "sym_visibility" in vjp_fn.attributes:  # the output is for iree-compile: export @F_vjp
            del vjp_fn.attributes["sym_visibility"]
        if clean:
            cleanup(module, f"{name}-opt", keep=None)
        return str(module)


def parse_axes(spec: str, flag: str) -> list:
    """'0,none,-1' -> [0, None, -1]."""
    try:
        return [None if s.strip().lower() == "none" else int(s) for s in spec.split(",")]
    except ValueError:
        raise UsageError(f"{flag} expects comma-separated integers or 'none', got {spec!r}") from None


def vmap_transform(text: str, name: str, args, source: str = "<input>") -> str:
    """Add @{name}_batched (--in-axes, --out-axes, --axis-size from `args`) and return the module's text."""
    if args.in_axes is None or args.axis_size is None:
        raise UsageError("--vmap needs --in-axes I,J,... and --axis-size N")
    out_axes = parse_axes(args.out_axes, "--out-axes")
    with building():
        module = parse_module(text, source)
        batching.vmap(module, name, parse_axes(args.in_axes, "--in-axes"),
                      out_axes[0] if len(out_axes) == 1 else out_axes, axis_size=args.axis_size)
        fn = lookup(module, f"{name}_batched")
        if "sym_visibility" in fn.attributes:  # the output is for iree-compile: export it
            del fn.attributes["sym_visibility"]
        if args.cleanup:
            cleanup(module, f"{name}-opt", keep=None)
        return str(module)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="irgrad-opt", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: irgrad-opt f.mlir --vjp f --wrt 0,2 --cleanup -o f_vjp.mlir")
    p.add_argument("input", help="MLIR file, or - for stdin")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--vjp", metavar="F", help="function to differentiate in reverse mode; adds @F_vjp")
    mode.add_argument("--jvp", metavar="F", help="function to differentiate in forward mode; adds @F_jvp")
    mode.add_argument("--vmap", metavar="F", help="function to batch; adds @F_batched")
    p.add_argument("--in-axes", metavar="I,J", help="--vmap: batch dimension of each argument, or none")
    p.add_argument("--out-axes", metavar="I", default="0", help="--vmap: batch dimension of the results (default 0)")
    p.add_argument("--axis-size", metavar="N", type=int, help="--vmap: the batch size")
    p.add_argument("--wrt", metavar="I,J", help="argument indices to differentiate (default: all float args)")
    p.add_argument("--cleanup", action="store_true", help="inline, canonicalize and CSE (public functions kept)")
    p.add_argument("--strong-zero", action="store_true",
                   help="--vjp/--jvp: a zero (co)tangent times an inf/NaN partial gives 0, not NaN")
    p.add_argument("-o", dest="output", metavar="OUT", help="output file (default: stdout)")
    return p


def read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        byte = data[e.start:e.start + 1]
        raise UsageError(f"cannot read {path}: not a UTF-8 text file (byte {e.start} is {byte!r}); "
                         "expected MLIR text (.mlir)") from None


def write_output(path: str | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def one_line(message: str) -> str:
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (0, or 1 after an error).

    >>> main(["f.mlir", "--vjp", "f", "--wrt", "0", "-o", "f_vjp.mlir"])  # doctest: +SKIP
    0
    """
    args = build_parser().parse_args(argv)
    try:
        source = "<stdin>" if args.input == "-" else args.input
        mode = "jvp" if args.jvp else "vjp"
        if args.vmap:
            text = vmap_transform(read_input(args.input), args.vmap, args, source)
        else:
            text = transform(read_input(args.input), getattr(args, mode), parse_wrt(args.wrt), args.cleanup, source,
                             mode, args.strong_zero)
        write_output(args.output, text)
    except (UsageError, IRError) as e:
        print(f"irgrad-opt: error: {one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug in a pass: still one line, never a traceback
        print(f"irgrad-opt: internal error: {type(e).__name__}: {one_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
