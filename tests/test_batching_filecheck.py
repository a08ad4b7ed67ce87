"""IR checks on the batching pass's output (`irgrad-opt --vmap`), one file per rule
family in tests/mlir/batching/, run by filecheck_runner. Pure IR: no IREE compile."""

from __future__ import annotations

import pytest
from filecheck_runner import MLIR_ROOT, cases, check_run, filecheck, files, pipeline, run_lines

MLIR_DIR = MLIR_ROOT / "batching"
CASES, IDS = cases("batching")


def test_every_file_has_run_lines():
    assert len(files("batching")) >= 7 and all(run_lines(p) for p in files("batching"))


@pytest.mark.parametrize("path,run", CASES, ids=IDS)
def test_filecheck(path, run):
    check_run(path, run)
