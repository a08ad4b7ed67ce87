"""No irgrad module uses another module's private (underscore) names (issue #11).

Parses every module of irgrad (irgrad/, frontend/, passes/, runtime/) with `ast` and
reports `from .x import _name`, `x._name` on an imported irgrad module, and
`import irgrad.x._name`. Dunders (`__all__`) are public. Needs no IREE.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"irgrad": "irgrad", "irgrad.numpy": "irgrad/numpy", "irgrad.frontend": "frontend",
            "irgrad.passes": "passes", "irgrad.runtime": "runtime"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_file(module: str) -> Path | None:
    """The file of irgrad module `module`, or None when it is not one (e.g. a function)."""
    for package, folder in sorted(PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if module == package:
            return REPO / folder / "__init__.py"
        if module.startswith(package + "."):
            rest = module[len(package) + 1:].split(".")
            path = REPO / folder / Path(*rest)
            for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                if candidate.exists():
                    return candidate
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO)
    for package, folder in PACKAGES.items():
        if rel.parent == Path(folder) or (Path(folder) in rel.parents and folder != "irgrad"):
            sub = ".".join(rel.parent.relative_to(folder).parts)
            package = f"{package}.{sub}" if sub else package
            return package if rel.stem == "__init__" else f"{package}.{rel.stem}"
    raise AssertionError(f"{rel} is in no irgrad package")


def private_uses(source: str, module: str, where: str) -> list[str]:
    """Each use in `source` (module `module`) of another irgrad module's private name."""
    package = module if where.endswith("__init__.py") else module.rpartition(".")[0]
    tree = ast.parse(source)
    modules = {}     # local name -> irgrad module it is bound to
    found = []

    def report(node, target):
        if target.rpartition(".")[0] != module:
            found.append(f"{where}: {target} (line {node.lineno})")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if not base.startswith("irgrad"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if _module_file(full) is not None:
                    modules[alias.asname or alias.name] = full
                elif _is_private(alias.name):
                    report(node, full)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("irgrad") and alias.asname:
                    modules[alias.asname] = alias.name
                if any(_is_private(p) for p in alias.name.split(".")):
                    report(node, alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            target = _dotted_module(node.value, modules)
            if target is not None:
                report(node, f"{target}.{node.attr}")
    return found


def _dotted_module(node, modules) -> str | None:
    """The irgrad module an expression names (`rb`, `irgrad.frontend.api`), or None."""
    if isinstance(node, ast.Name):
        return modules.get(node.id) or ("irgrad" if node.id == "irgrad" else None)
    if isinstance(node, ast.Attribute):
        base = _dotted_module(node.value, modules)
        full = f"{base}.{node.attr}" if base else None
        return full if full and _module_file(full) is not None else None
    return None


def _all_modules() -> list[Path]:
    """Every module file of the irgrad packages, subpackages (passes/rules) included."""
    return sorted({p for folder in PACKAGES.values() for p in (REPO / folder).rglob("*.py")})


def test_no_module_uses_another_modules_private_names():
    found = []
    for path in _all_modules():
        found += private_uses(path.read_text(), _module_name(path), str(path.relative_to(REPO)))
    assert not found, "private names used across modules:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    "from .api import _trace",
    "from irgrad.frontend.api import (jit, _fun_name)",
    "from . import random_bits as rb\nrb._MASK32",
    "from irgrad.passes import reverse\ndef f():\n    return reverse._COMBINERS",
    "import irgrad.frontend.api as api\napi._trace",
    "import irgrad\nirgrad.frontend.api._trace",
    "from .. import passes\npasses.reverse._COMBINERS",
])
def test_the_check_finds_private_uses(source):
    assert private_uses(source, "irgrad.frontend.custom", "frontend/custom.py")


@pytest.mark.parametrize("source", [
    "from .api import jit, __doc__",
    "from . import devices as _devices\n_devices.resolve",
    "import numpy as np\nnp._NoValue",
    "from .array import Array\nArray._buffer_on",
    "from irgrad.frontend.numpy_api import __all__",
])
def test_the_check_allows_public_and_foreign_names(source):
    assert private_uses(source, "irgrad.frontend.custom", "frontend/custom.py") == []
