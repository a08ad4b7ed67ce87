"""`python -m benchmarks [NAME ...] [--quick] [--out FILE]`: irgrad vs JAX on CPU.

Names: mlp, logistic, matmul, tiny, first_call, first_call_warm, hessian, per_example
(default: all). A full run without --quick writes benchmarks/results.md; other runs only
print, unless --out is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import first_call, report
from .timing import compare, fmt_seconds
from .workloads import WORKLOADS, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBS = ("irgrad", "jax")


def run_steady(w, libs, quick: bool):
    """(medians, bests, failures): seconds per call for each library that built."""
    steps, failed = {}, {}
    for lib in libs:
        try:
            step = w.build(lib, quick)
            step()  # trace + compile outside the timing
            steps[lib.name] = step
        except Exception as e:  # a failure is a result worth reporting, not a crash
            traceback.print_exc()
            failed[lib.name] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
    samples = max(5, w.samples // 3) if quick else w.samples
    timings = compare(steps, w.calls_per_sample, samples, warmup=1 if quick else 3) if steps else {}
    return {n: t.median for n, t in timings.items()}, {n: t.best for n, t in timings.items()}, failed


def run_first_call(w, libs, quick: bool):
    """(e) and (f): the MLP step's first call in fresh processes, compile cache empty or warmed."""
    warm = w.name == "first_call_warm"
    runs = {lib.name: [] for lib in libs}
    failed = {}
    for _ in range(1 if quick else w.samples):
        for lib in libs:
            if lib.name in failed:
                continue
            try:
                runs[lib.name].append(first_call.first_call(lib.name, "mlp", warm)["first"])
            except Exception as e:
                failed[lib.name] = str(e)[:120]
    ok = {n: sorted(v) for n, v in runs.items() if v and n not in failed}
    return {n: v[len(v) // 2] for n, v in ok.items()}, {n: v[0] for n, v in ok.items()}, failed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help=f"workloads to run: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="fewer samples and warm-up calls")
    p.add_argument("--out", help="write the markdown report here")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    names = args.names or list(WORKLOADS)
    out = args.out or (os.path.join(ROOT, "benchmarks", "results.md")
                       if not args.names and not args.quick else None)

    facts = report.machine()
    libs = [load(n) for n in LIBS]
    rows = []
    for name in names:
        w = WORKLOADS[name]
        print(f"{w.title} ...", flush=True)
        run = run_first_call if w.build is None else run_steady
        medians, bests, failed = run(w, libs, args.quick)
        ig, jx = medians.get("irgrad"), medians.get("jax")
        for lib in LIBS:
            shown = fmt_seconds(medians[lib]) if lib in medians else f"failed ({failed.get(lib)})"
            print(f"  {lib:7s} {shown}")
        if ig and jx:
            print(f"  ratio irgrad/jax = {ig / jx:.2f}")
        rows.append(report.row(w.title, medians, bests, "; ".join(f"{k} failed: {v}" for k, v in failed.items())))
    if out:
        with open(out, "w") as f:
            f.write(report.markdown(rows, facts, "python -m benchmarks" + (" --quick" if args.quick else "")))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
