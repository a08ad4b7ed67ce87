"""IR checks on the batching pass's output (`irgrad-opt --vmap`), one file per rule
family in tests/mlir/batching/, run by filecheck_runner. Pure IR: no IREE compile."""

from __future__ import annotations

import pytest
from filecheck_runner import MLIR_ROOT, cases, check_run, files, mutated_status, run_lines

MLIR_DIR = MLIR_ROOT / "batching"
CASES, IDS = cases("batching")


def test_every_file_has_run_lines():
    assert len(files("batching")) >= 7 and all(run_lines(p) for p in files("batching"))


@pytest.mark.parametrize("path,run", CASES, ids=IDS)
def test_filecheck(path, run):
    check_run(path, run)


# The checks must be able to fail: feed them output batched the wrong way.

def test_argmax_checks_reject_an_unshifted_index():
    """linalg.index 1 after batching would read the row, not the reduced position."""
    path = MLIR_DIR / "reductions.mlir"
    run = "irgrad-opt %s --vmap argmax --in-axes 1 --axis-size 2 | filecheck"
    assert mutated_status(path, run, "ARGMAX", "linalg.index 2", "linalg.index 1") != 0


def test_in_axes_checks_reject_a_wrong_transpose():
    path = MLIR_DIR / "in_axes.mlir"
    run = "irgrad-opt %s --vmap f --in-axes=1,none,0 --out-axes=-1,none --axis-size 4 | filecheck"
    wrong_map = "affine_map<(d0, d1, d2) -> (d1, d2, d0)>"
    assert mutated_status(path, run, "MIDDLE", "affine_map<(d0, d1, d2) -> (d2, d0, d1)>", wrong_map) != 0


def test_gather_checks_reject_a_missing_batch_index():
    path = MLIR_DIR / "gather.mlir"
    run = "irgrad-opt %s --vmap extract --in-axes 0,0 --axis-size 2 | filecheck"
    assert mutated_status(path, run, "EXTRACT-BOTH", "linalg.index 0", "arith.constant 0") != 0
