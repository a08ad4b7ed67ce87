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
        "irgrad CPU driver": executable.DRIVERS["cpu"],
        "irgrad llvm-cpu flags": " ".join(compiler.TARGET_FLAGS["llvm-cpu"]),
    }


def row(title: str, irgrad: float | None, jax: float | None, note: str = "") -> str:
    ratio = f"{irgrad / jax:.2f}" if irgrad and jax else "–"
    cells = [title, fmt_seconds(irgrad) if irgrad else "failed", fmt_seconds(jax) if jax else "failed", ratio, note]
    return "| " + " | ".join(cells) + " |"


def markdown(rows: list[str], facts: dict, command: str) -> str:
    lines = [
        "# irgrad vs JAX on CPU",
        "",
        f"Written by `{command}`. Medians of per-call times after warm-up; irgrad and JAX samples",
        "alternate in one process, so background load hits both alike. Ratio = irgrad / JAX",
        "(below 1: irgrad is faster).",
        "",
        "| workload | irgrad | JAX (jit, CPU) | ratio | note |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in facts.items()],
        "",
    ]
    return "\n".join(lines)
