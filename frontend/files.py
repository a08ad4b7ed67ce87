"""Writing result files so that a finished result is never lost or left half-written:
shared by the `irgrad` CLI and the samples."""

from __future__ import annotations

import os
import sys
import tempfile


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
