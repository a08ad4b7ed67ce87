"""Errors shared by every layer, and the IR dump that goes with them."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading


class IRError(RuntimeError):
    """An MLIR verifier, pass or compiler failure. The message names the file the
    offending IR was written to."""


_private_dir: str | None = None
_private_lock = threading.Lock()


def _is_private(path: str) -> bool:
    """A directory (not a link to one) of this user's that no one else can enter."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
    return stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & 0o077


def dump_dir() -> str:
    """Where IR dumps go: `$IRGRAD_DUMP_DIR` (made 0700 if missing), else a directory
    private to this process (`tempfile.mkdtemp`, 0700), made on the first dump. Never a
    fixed name in the shared temp directory, which another user could make first.

    >>> dump_dir()   # doctest: +SKIP
    '/tmp/irgrad-ir-dumps-k2j4w9x1'
    """
    chosen = os.environ.get("IRGRAD_DUMP_DIR")
    if chosen:
        os.makedirs(chosen, mode=0o700, exist_ok=True)
        return chosen
    global _private_dir
    with _private_lock:
        if _private_dir is None or not _is_private(_private_dir):   # e.g. removed by a temp cleaner
            _private_dir = tempfile.mkdtemp(prefix="irgrad-ir-dumps-")
        return _private_dir


def dump_ir(text: str, what: str) -> str:
    """Write `text` to a new file named after `what` and its hash; return the path.
    The file is created 0600 with O_EXCL | O_NOFOLLOW (`tempfile.mkstemp`) under a name no
    one can guess, so a symlink planted in a shared IRGRAD_DUMP_DIR is never followed."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in what)[:60]
    fd, path = tempfile.mkstemp(prefix=f"{safe}-{digest}-", suffix=".mlir", dir=dump_dir(), text=True)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class ResourceExhaustedError(RuntimeError):
    """A device ran out of memory running a computation (IREE's RESOURCE_EXHAUSTED); the
    message names the computation's outputs and the bytes they need."""
