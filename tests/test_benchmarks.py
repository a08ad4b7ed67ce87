"""Smoke test of `python -m benchmarks`: the per-call workload computes the same
numbers in irgrad and JAX, and the quick run reports a ratio consistent with the
times it prints. (The benchmarks themselves are not tests.)"""

import os
import re
import sys

import numpy as np
import pytest

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


# (g) and (h) at tiny sizes: irgrad against JAX and against the exact float64 references
# the benchmark checks before it times anything.

def _mlp_params(sizes, seed=5):
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32),
             (0.1 * rng.standard_normal(n)).astype(np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]


def test_hessian_workload_matches_jax_and_exact_hessian():
    data = workloads.hessian_data(n=6, m=10)
    want = workloads.hessian_reference(*data)
    got = {name: np.asarray(workloads.hessian_fn(workloads.load(name))(*data)) for name in ("irgrad", "jax")}
    assert got["irgrad"].shape == want.shape == (6, 6)
    np.testing.assert_allclose(got["irgrad"], got["jax"], rtol=1e-5, atol=1e-5)
    workloads.check(got["irgrad"], want, "irgrad hessian")
    workloads.check(got["jax"], want, "jax hessian")


def test_per_example_workload_matches_jax_and_backprop():
    params = _mlp_params((5, 7, 6, 1))
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 1)).astype(np.float32)
    want = workloads.per_example_reference(params, X, Y)
    got = {name: workloads.per_example_fn(workloads.load(name))(params, X, Y) for name in ("irgrad", "jax")}
    assert [np.shape(g) for pair in got["irgrad"] for g in pair] == [np.shape(w) for pair in want for w in pair] == [
        (4, 5, 7), (4, 7), (4, 7, 6), (4, 6), (4, 6, 1), (4, 1)]
    for a, b in zip(workloads._leaves(got["irgrad"]), workloads._leaves(got["jax"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    workloads.check(got["irgrad"], want, "irgrad per-example gradients")
    workloads.check(got["jax"], want, "jax per-example gradients")


def test_check_refuses_a_wrong_result():
    want = workloads.hessian_reference(*workloads.hessian_data(n=3, m=4))
    workloads.check(want.astype(np.float32), want, "exact")
    wrong = want.copy()
    wrong[1, 2] += 1e-2 * np.abs(want).max()
    with pytest.raises(AssertionError):
        workloads.check(wrong, want, "perturbed")
    with pytest.raises(AssertionError):
        workloads.check([want, want], [want], "extra result")


# What made (g) 12x and (h) 2x slower than they are (runtime/compiler.py: prepare), on the
# modules IREE is given for the tiny versions of the two workloads (no IREE compile).

def _prepared_generics(fn, *args):
    from iree.compiler import ir
    from irgrad.runtime import compiler
    fused = compiler.prepare(fn.lower(*args).as_text(), "llvm-cpu")[0][0]
    found = []
    with ir.Context():
        module = ir.Module.parse(fused)

        def visit(op):
            if op.name == "linalg.generic":
                maps = [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
                shapes = [list(v.type.shape) if isinstance(v.type, ir.ShapedType) else [] for v in op.operands]
                sizes = {r.position: n for m, shape in zip(maps, shapes) for r, n in zip(m.results, shape)
                         if isinstance(r, ir.AffineDimExpr)}
                iters = [str(a).split("<")[1].rstrip(">") for a in op.attributes["iterator_types"]]
                body = [o.name for o in op.regions[0].blocks[0].operations]
                out = [r.position for r in maps[-1].results if isinstance(r, ir.AffineDimExpr)]
                found.append({"iters": iters, "sizes": sizes, "body": body, "out_dims": out})
            return ir.WalkResult.ADVANCE
        module.operation.walk(visit)
    return found


def test_hessian_contractions_do_not_recompute_tanh():
    fn = workloads.hessian_fn(workloads.load("irgrad"))
    gens = _prepared_generics(fn, *workloads.hessian_data(n=6, m=10))
    reductions = [g for g in gens if "reduction" in g["iters"]]
    assert reductions and all("math.tanh" not in g["body"] for g in reductions)


def test_per_example_outer_products_are_written_in_order():
    fn = workloads.per_example_fn(workloads.load("irgrad"))
    rng = np.random.default_rng(7)
    gens = _prepared_generics(fn, _mlp_params((5, 7, 6, 1)), rng.standard_normal((4, 5)).astype(np.float32),
                              rng.standard_normal((4, 1)).astype(np.float32))
    elementwise = [g for g in gens
                   if all(it == "parallel" or g["sizes"].get(d) == 1 for d, it in enumerate(g["iters"]))]
    outer = [g for g in elementwise if len(g["out_dims"]) == 3]    # the batched dW's, (4, 5, 7) and (4, 7, 6)
    assert len(outer) >= 2
    assert all(g["out_dims"] == sorted(g["out_dims"]) for g in elementwise)
