"""The LLVM CPU names a CPU artifact can be compiled for (`export(..., cpu=)`, `irgrad export --cpu`).

A misspelt name would otherwise fail inside iree-compile, after tracing, with LLVM's whole
list of ~100 CPUs. `check_cpu` asks iree-compile for that list once per process (an
empty module and the name `help`: ~0.3 s, only for names other than host and generic)
and refuses an unknown name with a short message.
"""

from __future__ import annotations

import functools
import platform
import re

ALWAYS = ("host", "generic")     # this machine's CPU; any CPU of this architecture
# Shown as examples when present in LLVM's list (the first three are shown otherwise).
EXAMPLES = ("x86-64-v3", "haswell", "skylake-avx512", "znver3", "neoverse-n1", "apple-m1", "cortex-a76")
_EMPTY = "func.func @main() { return }"


@functools.cache
def accepted_cpus() -> tuple[str, ...] | None:
    """LLVM's CPU names for this machine's architecture, as iree-compile lists them; None if
    it gives no list (then names are not checked here).

    >>> "haswell" in accepted_cpus()   # doctest: +SKIP
    True
    """
    import iree.compiler as ic
    try:
        ic.compile_str(_EMPTY, target_backends=["llvm-cpu"], extra_args=["--iree-llvmcpu-target-cpu=help"])
    except ic.CompilerToolError as e:
        found = re.search(r"List of accepted CPUs:\s*([^\n]*)", str(e))
        return tuple(n.strip() for n in found.group(1).split(",") if n.strip()) if found else None
    return None


def check_cpu(cpu: str, what: str = "cpu") -> None:
    """ValueError naming `what` unless `cpu` is host, generic or a CPU LLVM knows for this architecture.

    >>> check_cpu("nonsense")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cpu 'nonsense' is not a CPU LLVM knows for x86_64; use 'host' (this machine), ...
    """
    if not isinstance(cpu, str) or not cpu.strip():
        raise ValueError(f"{what} must be a CPU name such as 'host' or 'generic', got {cpu!r}")
    if cpu in ALWAYS:
        return
    names = accepted_cpus()
    if names is None or cpu in names:
        return
    examples = [n for n in EXAMPLES if n in names] or list(names[:3])
    raise ValueError(f"{what} {cpu!r} is not a CPU LLVM knows for {platform.machine()}; use 'host' (this machine), "
                     f"'generic' (any {platform.machine()}) or one of the {len(names)} LLVM names such as "
                     f"{', '.join(examples)} (`iree-compile --iree-llvmcpu-target-cpu=help` lists them all)")
