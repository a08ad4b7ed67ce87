"""Errors shared by every layer, and the IR dump that goes with them."""

from __future__ import annotations

import hashlib
import os
import tempfile


class IRError(RuntimeError):
    """An MLIR verifier, pass or compiler failure. The message names the file the
    offending IR was written to."""


def dump_dir() -> str:
    path = os.environ.get("IRGRAD_DUMP_DIR") or os.path.join(tempfile.gettempdir(), "irgrad-ir-dumps")
    os.makedirs(path, exist_ok=True)
    return path


def dump_ir(text: str, what: str) -> str:
    """Write `text` to a file named after `what` and its hash; return the path."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in what)[:60]
    path = os.path.join(dump_dir(), f"{safe}-{digest}.mlir")
    with open(path, "w") as f:
        f.write(text)
    return path
