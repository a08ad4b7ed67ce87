"""IR checks on the reverse-mode pass's output with the Python `filecheck` package.

Each file in tests/mlir/reverse/ holds an MLIR module, `// RUN:` lines and the check
lines (filecheck_runner runs them), e.g.

    // RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=CLEAN

Raw and cleaned-up output are checked under separate prefixes (RAW / CLEAN).
"""

from __future__ import annotations

import pytest
from filecheck_runner import MLIR_ROOT, cases, check_run, filecheck, files, pipeline, run_lines

MLIR_DIR = MLIR_ROOT / "reverse"
CASES, IDS = cases("reverse")


def test_every_file_has_run_lines():
    assert len(files("reverse")) >= 5 and all(run_lines(p) for p in files("reverse"))


@pytest.mark.parametrize("path,run", CASES, ids=IDS)
def test_filecheck(path, run):
    check_run(path, run)


# The checks must be able to fail: feed them output they do not describe.

def test_broadcast_checks_reject_output_without_the_reduction():
    """--wrt 0 leaves y out, so the reduction generic RAW looks for is absent."""
    path = MLIR_DIR / "broadcast.mlir"
    text = pipeline(path, "irgrad-opt %s --vjp f --wrt 0 | filecheck")
    assert filecheck(path, text, "RAW").returncode != 0


def test_clean_checks_reject_raw_output():
    """The raw output keeps constants inside the bodies; CLEAN forbids them there."""
    path = MLIR_DIR / "broadcast.mlir"
    text = pipeline(path, "irgrad-opt %s --vjp f | filecheck")
    assert filecheck(path, text, "CLEAN").returncode != 0


def test_wrt_checks_reject_all_arguments():
    path = MLIR_DIR / "wrt.mlir"
    text = pipeline(path, "irgrad-opt %s --vjp f | filecheck")
    assert filecheck(path, text, "WRT").returncode != 0


def test_emitted_once_checks_reject_a_duplicate():
    """A module holding @f_vjp twice (as a broken pass would emit it) fails the RAW checks."""
    path = MLIR_DIR / "calls.mlir"
    text = pipeline(path, "irgrad-opt %s --vjp f | filecheck")
    start = text.index("  func.func @f_vjp(")
    end = text.rindex("}")  # the module's closing brace
    doubled = text[:end] + text[start:end] + "}\n"
    assert filecheck(path, doubled, "RAW").returncode != 0
