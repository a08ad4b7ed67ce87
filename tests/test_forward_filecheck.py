"""IR checks on the forward-mode pass's output (`irgrad-opt --jvp`), one file per rule
family in tests/mlir/forward/, run by filecheck_runner. Pure IR: no IREE compile."""

from __future__ import annotations

import re

import pytest
from filecheck_runner import (
    MLIR_ROOT,
    cases,
    check_run,
    filecheck,
    files,
    mutated_status,
    pipeline,
    run_lines,
    run_opt,
)

MLIR_DIR = MLIR_ROOT / "forward"
CASES, IDS = cases("forward")


def test_every_file_has_run_lines():
    assert len(files("forward")) >= 6 and all(run_lines(p) for p in files("forward"))


@pytest.mark.parametrize("path,run", CASES, ids=IDS)
def test_filecheck(path, run):
    check_run(path, run)


# The checks must be able to fail: feed them output with a wrong derivative.

def test_elementwise_checks_reject_sin_for_cos():
    path = MLIR_DIR / "elementwise.mlir"
    assert mutated_status(path, "irgrad-opt %s --jvp f --cleanup | filecheck", "CLEAN", "math.cos", "math.sin") != 0


def test_elementwise_checks_reject_a_tangent_through_the_integer_path():
    """t_z = t_a * sitofp(..) + t_b would be a tangent leaking past fptosi."""
    path = MLIR_DIR / "elementwise.mlir"
    text = pipeline(path, "irgrad-opt %s --jvp f --cleanup | filecheck")
    yields = list(re.finditer(r"linalg.yield (%\d+), (%\d+) : f32, f32", text))
    t_r, t_z = yields[-1].groups()   # the tangent generic's yield
    leak = f"%leak = arith.addf {t_z}, %in_3 : f32\n      linalg.yield {t_r}, %leak : f32, f32"
    leaky = text[:yields[-1].start()] + leak + text[yields[-1].end():]
    assert filecheck(path, leaky, "CLEAN").returncode != 0


def test_only_y_checks_reject_integer_ops_in_the_tangent_generic():
    path = MLIR_DIR / "elementwise.mlir"
    text = pipeline(path, "irgrad-opt %s --jvp f --wrt 1 --cleanup | filecheck")
    line = text.rindex("\n", 0, text.rindex("arith.select")) + 1   # the tangent generic's select
    bad = text[:line] + "      %bad = arith.fptosi %in_3 : f32 to i32\n" + text[line:]
    assert filecheck(path, text, "ONLY-Y").returncode == 0 and filecheck(path, bad, "ONLY-Y").returncode != 0


def test_gather_checks_reject_a_gather_from_the_primal():
    path = MLIR_DIR / "gather.mlir"
    assert mutated_status(path, "irgrad-opt %s --jvp gather | filecheck", "GATHER", "tensor.extract %arg2[",
                          "tensor.extract %arg0[") != 0


def test_max_checks_reject_a_missing_tie_count():
    path = MLIR_DIR / "reductions.mlir"
    assert mutated_status(path, "irgrad-opt %s --jvp max | filecheck", "MAX", "arith.divf", "arith.mulf") != 0


def test_custom_vjp_has_no_forward_mode():
    """As in JAX: jvp of a custom_vjp function is an error, not the primal's derivative."""
    status, _, err = run_opt([str(MLIR_ROOT / "reverse" / "custom_rules.mlir"), "--jvp", "f"])
    assert status == 1 and "can't apply forward-mode autodiff (jvp) to a custom_vjp function" in err
