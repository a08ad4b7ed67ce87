"""IR checks on the forward-mode pass's output (`irgrad-opt --jvp`), one file per rule
family in tests/mlir/forward/, run by filecheck_runner. Pure IR: no IREE compile."""

from __future__ import annotations

import pytest
from filecheck_runner import cases, check_run, files, run_lines

CASES, IDS = cases("forward")


def test_every_file_has_run_lines():
    assert len(files("forward")) >= 6 and all(run_lines(p) for p in files("forward"))


@pytest.mark.parametrize("path,run", CASES, ids=IDS)
def test_filecheck(path, run):
    check_run(path, run)
