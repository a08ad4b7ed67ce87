"""First-call latency in a fresh process, with a cold and with a warm compile cache.

`python -m benchmarks.first_call [--runs N] [WORKLOAD ...]` prints, for irgrad and JAX,
the median over N fresh processes (default 3) of the seconds from calling a jitted
function for the first time to its result being ready (trace, compile or cache read,
load, run; imports and data set-up not counted):

    small  jit(lambda x: jnp.tanh(x) @ x.T) on a 64x64 float32 input
    mlp    the MLP training step of workload (a)

Cold: the process starts with an empty compile-cache directory. Warm: the directory was
filled by an earlier process running the same code. irgrad's cache is its own
(`IRGRAD_CACHE_DIR`); JAX's is its persistent compilation cache
(`jax_compilation_cache_dir`, with the minimum compile time lowered to 0 so that every
module is stored: JAX does not use it unless configured).

`python -m benchmarks.first_call --child LIB WORKLOAD CACHE_DIR` is one such process;
it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from .timing import fmt_seconds
from .workloads import block, load, mlp_data, mlp_step_fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBS = ("irgrad", "jax")


def small(lib):
    """(call, args) for jit(tanh(x) @ x.T) on 64x64."""
    jnp = lib.jnp
    x = lib.put(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    return lib.jax.jit(lambda x: jnp.tanh(x) @ x.T), (x,)


def mlp(lib):
    params, x, y = mlp_data()
    params = [(lib.put(w), lib.put(b)) for w, b in params]
    return mlp_step_fn(lib), (params, lib.put(x), lib.put(y))


WORKLOADS = {"small": small, "mlp": mlp}


def _use_cache(lib, cache: str) -> None:
    if lib.name == "jax":
        lib.jax.config.update("jax_compilation_cache_dir", cache)
        lib.jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def child(name: str, workload: str, cache: str) -> dict:
    """Run in a fresh process: time the first and second call of `workload`."""
    lib = load(name)
    _use_cache(lib, cache)
    fn, args = WORKLOADS[workload](lib)
    t0 = time.perf_counter()
    np.asarray(lib.jax.tree_util.tree_leaves(block(lib, fn(*args)))[-1])
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    block(lib, fn(*args))
    out = {"lib": name, "first": first, "second": time.perf_counter() - t0}
    if name == "irgrad":
        from irgrad.runtime import compiler
        out["iree_compiles"], out["disk_hits"] = compiler.stats["compiles"], compiler.stats["disk_hits"]
    return out


def run_child(name: str, workload: str, cache: str) -> dict:
    """One fresh process using compile-cache directory `cache`."""
    env = dict(os.environ, IRGRAD_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-m", "benchmarks.first_call", "--child", name, workload, cache],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no output")
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_call(name: str, workload: str, warm: bool) -> dict:
    """One measurement: a fresh process with an empty cache, or with one warmed by a
    previous process."""
    with tempfile.TemporaryDirectory() as cache:
        if warm:
            run_child(name, workload, cache)
        return run_child(name, workload, cache)


def measure(workload: str, runs: int, libs=LIBS) -> dict:
    """{(lib, "cold" | "warm"): [seconds, ...]}, the runs of each alternating."""
    times = {(lib, mode): [] for lib in libs for mode in ("cold", "warm")}
    for _ in range(runs):
        for (lib, mode), ts in times.items():
            r = first_call(lib, workload, mode == "warm")
            if lib == "irgrad" and mode == "warm" and r["iree_compiles"]:
                raise RuntimeError(f"irgrad compiled {r['iree_compiles']} modules with a warm cache")
            ts.append(r["first"])
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.first_call", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=f"{', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--runs", type=int, default=3, help="fresh processes per row (default 3)")
    p.add_argument("--child", nargs=3, metavar=("LIB", "WORKLOAD", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    for workload in args.workloads or list(WORKLOADS):
        print(f"{workload}: first call in a fresh process, median of {args.runs}")
        med = {k: statistics.median(v) for k, v in measure(workload, args.runs).items()}
        for mode in ("cold", "warm"):
            ig, jx = med["irgrad", mode], med["jax", mode]
            print(f"  {mode} cache  irgrad {fmt_seconds(ig):>9s}   jax {fmt_seconds(jx):>9s}   "
                  f"irgrad/jax = {ig / jx:.2f}")
        for lib in LIBS:
            print(f"  {lib} cold/warm = {med[lib, 'cold'] / med[lib, 'warm']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
