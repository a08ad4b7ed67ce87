"""Run the `// RUN:` lines of the FileCheck tests in tests/mlir/<pass>/ (shared by the
reverse, forward and batching test files).

Each file holds an MLIR module, `// RUN:` lines and the check lines, LLVM-style:

    // RUN: irgrad-opt %s --jvp f --cleanup | filecheck %s --check-prefix=CLEAN

Every RUN line is one test: its `irgrad-opt` stages run in-process (`main`), each
reading the previous stage's output, and the last stage is the `filecheck` CLI.
No IREE compile is involved: these tests check the passes' IR only.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

from irgrad.passes.opt import main

MLIR_ROOT = Path(__file__).parent / "mlir"
FILECHECK = os.path.join(os.path.dirname(sys.executable), "filecheck")


def run_opt(args, stdin_text=None):
    """main(args) in-process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    try:
        if stdin_text is not None:
            sys.stdin = io.StringIO(stdin_text)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(args)
    finally:
        sys.stdin = old_stdin
    return status, out.getvalue(), err.getvalue()


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


def files(folder: str) -> list[Path]:
    return sorted((MLIR_ROOT / folder).glob("*.mlir"))


def cases(folder: str) -> tuple[list, list[str]]:
    """(path, RUN line) pairs of every file in tests/mlir/<folder>/, and their test ids."""
    found = [(p, run, f"{p.stem}:{i}") for p in files(folder) for i, run in enumerate(run_lines(p))]
    return [c[:2] for c in found], [c[2] for c in found]


def check_run(path: Path, run: str) -> None:
    """Run one RUN line; fail with filecheck's report if its checks do not match."""
    result = filecheck(path, pipeline(path, run), prefix_of(run))
    assert result.returncode == 0, f"RUN: {run}\n{result.stdout}\n{result.stderr}"


def mutated_status(path: Path, run: str, prefix: str, old: str, new: str) -> int:
    """filecheck's exit status on the RUN line's output with `old` replaced by `new` (once):
    nonzero shows that the checks notice that change."""
    text = pipeline(path, run)
    assert old in text, f"{old!r} is not in the output of {run}"
    return filecheck(path, text.replace(old, new, 1), prefix).returncode
