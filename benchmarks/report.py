"""The machine and versions a run was taken on, and the markdown report."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata

from .timing import fmt_seconds


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    """Facts that decide how comparable two runs are."""
    from irgrad.runtime import compiler, executable
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "load average (1 min, at start)": f"{os.getloadavg()[0]:.2f}",
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "iree-base-compiler": _version("iree-base-compiler"),
        "iree-base-runtime": _version("iree-base-runtime"),
        "scheduling": _scheduling(),
        "irgrad CPU driver": os.environ.get("IRGRAD_CPU_DRIVER") or
        f"{executable.CPU.driver} below {executable.TASK_WORK:.2e} loop iterations, "
        f"{executable.THREADED_DRIVER} above",
        "irgrad llvm-cpu flags": " ".join(compiler.TARGET_FLAGS["llvm-cpu"]) +
        f", plus {compiler.DATA_TILING} for modules with a matmul (M, N, K >= {compiler.MIN_TILED})",
    }


def _scheduling() -> str:
    """This process's niceness and (Linux) autogroup: the machine may be shared."""
    try:
        with open("/proc/self/autogroup") as f:
            group = f.read().strip()
    except OSError:
        group = "no autogroup"
    return f"nice {os.nice(0)}, {group}"


def _cell(t: float | None) -> str:
    return fmt_seconds(t) if t else "failed"


def row(title: str, medians: dict, bests: dict, note: str = "") -> str:
    """One table row: medians, their ratio, and the best samples with theirs."""
    ig, jx = medians.get("irgrad"), medians.get("jax")
    bi, bj = bests.get("irgrad"), bests.get("jax")
    cells = [title, _cell(ig), _cell(jx), f"**{ig / jx:.2f}**" if ig and jx else "–",
             f"{_cell(bi)} / {_cell(bj)} = {bi / bj:.2f}" if bi and bj else "–", note]
    return "| " + " | ".join(cells) + " |"


def markdown(rows: list[str], facts: dict, command: str) -> str:
    lines = [
        "# irgrad vs JAX on CPU",
        "",
        f"Written by `{command}`. Medians of per-call times after warm-up; irgrad and JAX samples",
        "alternate in one process, so background load hits both alike. Ratio = irgrad / JAX",
        "(below 1: irgrad is faster). Inputs are device-resident in both libraries. (e) is the",
        "median over fresh processes (compile caches empty) of the time from the first call of",
        "the jitted step to its result: trace, autodiff, compile, load and run. (f) is the same",
        "with the compile cache on disk warmed by an earlier process (JAX: its persistent",
        "compilation cache, `jax_compilation_cache_dir`).",
        "",
        "| workload | irgrad median | JAX median (jit, CPU) | ratio | best irgrad / best JAX | note |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in facts.items()],
        "",
    ]
    return "\n".join(lines)
