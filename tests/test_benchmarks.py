"""Smoke test of `python -m benchmarks`: the per-call workload computes the same
numbers in irgrad and JAX, and the quick run reports a ratio consistent with the
times it prints. (The benchmarks themselves are not tests.)"""

import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import workloads  # noqa: E402
from benchmarks.__main__ import main  # noqa: E402

UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}


def _seconds(line: str) -> float:
    value, unit = line.split()[-2:]
    return float(value) * UNITS[unit]


def test_tiny_workload_same_numbers_in_both_libraries():
    for name in ("irgrad", "jax"):
        step = workloads.tiny_call(workloads.load(name), quick=True)
        np.testing.assert_array_equal(np.asarray(step()), [1.0, 3.0, 5.0, 7.0])


def test_quick_tiny_run_prints_consistent_ratio(capsys):
    assert main(["tiny", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    times = {ln.split()[0]: _seconds(ln) for ln in lines if re.match(r"\s+(irgrad|jax)\s+[\d.]+ (s|ms|µs)$", ln)}
    ratio = float(next(ln for ln in lines if "ratio irgrad/jax" in ln).split("=")[1])
    assert set(times) == {"irgrad", "jax"}
    # Printed times have 3 significant digits, the ratio 2 decimals.
    assert abs(ratio - times["irgrad"] / times["jax"]) <= 0.01 * ratio + 0.01
