"""Workload (e): the first call of the MLP step in this (fresh) process.

Run as `python -m benchmarks.first_call irgrad|jax`; prints one JSON line with the
seconds from calling the jitted step (trace + compile + run) to its result being
ready. Imports and data set-up are not counted.
"""

from __future__ import annotations

import json
import sys
import time

from .workloads import block, load, mlp_data, mlp_step_fn


def main(name: str) -> dict:
    lib = load(name)
    params, x, y = mlp_data()
    params = [(lib.put(w), lib.put(b)) for w, b in params]
    x, y = lib.put(x), lib.put(y)
    step = mlp_step_fn(lib)
    t0 = time.perf_counter()
    _, value = block(lib, step(params, x, y))
    float(value)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    block(lib, step(params, x, y))
    return {"lib": name, "first": first, "second": time.perf_counter() - t0}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
