"""Writing result files so that a finished result is never lost or left half-written:
shared by the `irgrad` CLI and the samples."""

from __future__ import annotations

import os
import sys
import tempfile


def unwritable(path: str) -> str | None:
    """Why `path` cannot be written (created or replaced), or None if it can.

    >>> unwritable("/nonexistent-dir/ck.npz")
    'its directory /nonexistent-dir does not exist'
    """
    full = os.path.abspath(path)
    parent = os.path.dirname(full)
    if os.path.isdir(full):
        return "it is a directory"
    if not os.path.exists(parent):
        return f"its directory {parent} does not exist"
    if not os.path.isdir(parent):
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"its directory {parent} is not writable"
    if os.path.exists(full) and not os.access(full, os.W_OK):
        return "the file is not writable"
    return None


def write_whole(write, path: str) -> None:
    """`write` to a sibling temporary file (same extension, for writers that go by it, such
    as matplotlib) renamed onto `path`: a failed or killed write never leaves half a file
    under `path`.

    >>> write_whole(lambda p: open(p, "w").write("done"), "/tmp/result.txt")   # doctest: +SKIP
    """
    root, ext = os.path.splitext(path)
    tmp = f"{root}.partial-{os.getpid()}{ext}"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_or_fall_back(what: str, path: str, write, prefix: str = "irgrad-", speaker: str = "") -> str:
    """`write_whole(write, path)`; if that fails (the disk filled up, the folder went away),
    write a new file in the temp directory instead and say so on stderr, so a finished
    result is never lost. Returns the path written.

    >>> write_or_fall_back("--plot", "/gone/p.png", lambda p: open(p, "w").close())   # doctest: +SKIP
    warning: could not write --plot /gone/p.png (...); wrote it to /tmp/irgrad-k2j4-p.png instead
    """
    try:
        write_whole(write, path)
        return path
    except OSError as e:
        reason = e.strerror or str(e)
    fd, fallback = tempfile.mkstemp(prefix=prefix, suffix="-" + os.path.basename(path))
    os.close(fd)
    write_whole(write, fallback)
    print(f"{speaker}warning: could not write {what} {path} ({reason}); wrote it to {fallback} instead",
          file=sys.stderr)
    return fallback
