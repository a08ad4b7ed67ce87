"""Python control flow under bare grad: irgrad.grad(f) vs jax.grad(f), neither jitted.

Run as `python -m benchmarks.control_flow [--repeats N] [--calls N]`. `f` branches on
`jnp.sum(x) > 0`; every call takes the same branch. Two input streams: varying values
(irgrad retraces each new value, then finds the compiled module by IR hash) and one value
repeated (irgrad reuses the trace cached for that value). Prints calls per second, the
median over repeats, for each library and stream.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def branchy(np_):
    """The benchmarked function: a value-dependent branch whose path never changes here."""
    def f(x):
        if np_.sum(x) > 0:
            return np_.sum(np_.tanh(x) * x)
        return np_.sum(x ** 3)
    return f


def _inputs(n, varying, rep=0):
    """n inputs with a positive sum; `varying` gives every call (and every repeat) new values."""
    rng = np.random.default_rng(0)
    base = np.abs(rng.standard_normal(16)).astype(np.float32) + 0.1
    return [base * np.float32(1 + rep + k / n) if varying else base for k in range(n)]


def calls_per_second(g, xs, block) -> float:
    t0 = time.perf_counter()
    for x in xs:
        block(g(x))
    return len(xs) / (time.perf_counter() - t0)


def run(repeats=5, calls=200) -> dict:
    import jax
    import jax.numpy as jjnp
    from irgrad.frontend.api import stats

    import irgrad
    import irgrad.numpy as jnp

    libs = {"irgrad": (irgrad.grad(branchy(jnp)), lambda r: np.asarray(r)),
            "jax": (jax.grad(branchy(jjnp)), lambda r: r.block_until_ready())}
    out = {}
    for stream in ("varying", "repeated"):
        for name, (g, block) in libs.items():
            calls_per_second(g, _inputs(5, stream == "varying", -0.5), block)   # warm-up (compiles)
            before = stats.iree_compiles
            rates = [calls_per_second(g, _inputs(calls, stream == "varying", r), block) for r in range(repeats)]
            out[(name, stream)] = (statistics.median(rates), stats.iree_compiles - before)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args(argv)
    res = run(args.repeats, args.calls)
    print(f"grad(f) with a value-dependent branch, not jitted: calls/s, median of {args.repeats} x {args.calls}")
    print(f"{'inputs':<10} {'irgrad':>10} {'jax':>10} {'irgrad/jax':>11}  irgrad IREE compiles")
    for stream in ("varying", "repeated"):
        (ours, compiles), (theirs, _) = res[("irgrad", stream)], res[("jax", stream)]
        print(f"{stream:<10} {ours:>10.0f} {theirs:>10.0f} {ours / theirs:>11.2f}  {compiles}")


if __name__ == "__main__":
    main()
