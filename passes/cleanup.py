"""Cleanup before compiling: inline calls, drop dead functions, canonicalize, CSE."""

from __future__ import annotations

from .ir import ir, run_pipeline, verify

PIPELINE = "builtin.module(inline, symbol-dce, canonicalize, cse)"


def cleanup(module: ir.Module, what: str = "module", keep: str | None = "main") -> None:
    """Make every function but @keep private, then inline and clean up.
    `keep=None` leaves visibility alone, so every public function survives."""
    for op in module.body.operations:
        if keep is None:
            break
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value != keep:
            op.attributes["sym_visibility"] = ir.StringAttr.get("private")
    run_pipeline(module, PIPELINE, f"{what}-cleanup")
    verify(module, f"{what}-cleanup")
