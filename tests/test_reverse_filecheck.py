"""IR checks on the reverse-mode pass's output with the Python `filecheck` package.

Each file in tests/mlir/reverse/ holds an MLIR module, `// RUN:` lines and the check lines,
LLVM-style:

    // RUN: irgrad-opt %s --vjp f --cleanup | filecheck %s --check-prefix=CLEAN

Every RUN line is one test: its `irgrad-opt` stages run in-process (`main`), each
reading the previous stage's output, and the last stage is the `filecheck` CLI.
Raw and cleaned-up output are checked under separate prefixes (RAW / CLEAN).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_reverse_pass import run_opt

MLIR_DIR = Path(__file__).parent / "mlir" / "reverse"
FILECHECK = os.path.join(os.path.dirname(sys.executable), "filecheck")


def run_lines(path: Path) -> list[str]:
    return [line.split("RUN:", 1)[1].strip() for line in path.read_text().splitlines()
            if line.lstrip().startswith("// RUN:")]


def pipeline(path: Path, run: str) -> str:
    """Run the irgrad-opt stages of a RUN line; return the text fed to filecheck."""
    *stages, _ = [s.strip() for s in run.replace("%s", str(path)).split("|")]
    text = None
    for stage in stages:
        argv = shlex.split(stage)
        assert argv[0] == "irgrad-opt", stage
        status, text, err = run_opt(argv[1:], stdin_text=text)
        assert status == 0, f"{stage}: {err}"
    return text


def filecheck(path: Path, text: str, prefix: str) -> subprocess.CompletedProcess:
    return subprocess.run([FILECHECK, str(path), f"--check-prefix={prefix}"], input=text,
                          capture_output=True, text=True)


def prefix_of(run: str) -> str:
    fc = shlex.split(run.split("|")[-1])
    assert fc[0] == "filecheck", run
    flag = next(a for a in fc if a.startswith("--check-prefix"))
    return flag.split("=", 1)[1]


CASES = [(p, run, f"{p.stem}:{i}") for p in sorted(MLIR_DIR.glob("*.mlir")) for i, run in enumerate(run_lines(p))]


def test_every_file_has_run_lines():
    files = sorted(MLIR_DIR.glob("*.mlir"))
    assert len(files) >= 5 and all(run_lines(p) for p in files)


@pytest.mark.parametrize("path,run", [c[:2] for c in CASES], ids=[c[2] for c in CASES])
def test_filecheck(path, run):
    result = filecheck(path, pipeline(path, run), prefix_of(run))
    assert result.returncode == 0, f"RUN: {run}\n{result.stdout}\n{result.stderr}"


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
