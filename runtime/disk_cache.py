"""The on-disk compile cache: one file per compiled module, shared by every process.

Where: `$IRGRAD_CACHE_DIR` if set, else the user's cache directory
(`$XDG_CACHE_HOME/irgrad` or `~/.cache/irgrad` on Linux, `~/Library/Caches/irgrad` on
macOS, `%LOCALAPPDATA%\\irgrad\\Cache` on Windows). `IRGRAD_CACHE_DIR=off` turns it off.
The directory is kept under `$IRGRAD_CACHE_MAX_MB` (default 1024): after each write the
least recently used entries go.

An entry is a header (magic, format version, payload length, SHA-256 of the payload)
followed by the .vmfb. A truncated or corrupted entry fails the check, is deleted and
reads as a miss, so the caller compiles again; nothing here ever raises. Writes go to
a temporary file in the same directory and are renamed into place (`os.replace` is
atomic), so readers never see half an entry and processes writing the same entry at
once each leave a whole one.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> write("ab" * 32, b"vmfb bytes", d), read("ab" * 32, d)
(True, (b'vmfb bytes', 'hit'))
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import tempfile
import time

MAGIC = b"IRGRADC\0"
FORMAT_VERSION = 1
# magic, format version, payload length, SHA-256 of the payload
HEADER = struct.Struct("<8sIQ32s")
SUFFIX = ".vmfb-entry"
TMP_PREFIX = ".tmp-"
DEFAULT_MAX_MB = 1024
STALE_TMP_SECONDS = 3600    # temporary files older than this were left by a killed writer
OFF = "off"


def _user_cache_home() -> str:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        return os.path.join(base, "irgrad", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/irgrad")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "irgrad")


def cache_dir() -> str | None:
    """The cache directory, or None when `IRGRAD_CACHE_DIR=off` (read on every call).

    >>> cache_dir()   # doctest: +SKIP
    '/home/me/.cache/irgrad'
    """
    d = os.environ.get("IRGRAD_CACHE_DIR", "").strip()
    if d.lower() == OFF:
        return None
    return os.path.abspath(os.path.expanduser(d)) if d else _user_cache_home()


def max_bytes() -> int:
    try:
        return int(float(os.environ.get("IRGRAD_CACHE_MAX_MB", DEFAULT_MAX_MB)) * 2**20)
    except ValueError:
        return DEFAULT_MAX_MB * 2**20


def entry_path(key: str, directory: str) -> str:
    return os.path.join(directory, key + SUFFIX)


def pack(payload: bytes) -> bytes:
    """Header + payload, as stored on disk."""
    return HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), hashlib.sha256(payload).digest()) + payload


def unpack(blob: bytes) -> bytes | None:
    """The payload of a stored entry, or None if it is truncated, corrupted or foreign.

    >>> unpack(pack(b"abc")), unpack(pack(b"abc")[:-1]), unpack(b"junk")
    (b'abc', None, None)
    """
    if len(blob) < HEADER.size:
        return None
    magic, version, length, digest = HEADER.unpack_from(blob)
    payload = blob[HEADER.size:]
    if magic != MAGIC or version != FORMAT_VERSION or length != len(payload):
        return None
    return payload if hashlib.sha256(payload).digest() == digest else None


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def read(key: str, directory: str) -> tuple[bytes | None, str]:
    """(payload, "hit"), or (None, "miss") when there is no readable entry, or
    (None, "bad") when the entry failed its check: it is deleted, and the next write
    replaces it."""
    path = entry_path(key, directory)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None, "miss"
    payload = unpack(blob)
    if payload is None:
        _remove(path)
        return None, "bad"
    try:
        os.utime(path)   # recently used: pruned last
    except OSError:
        pass
    return payload, "hit"


def write(key: str, payload: bytes, directory: str) -> bool:
    """Store `payload` under `key` atomically; False (and nothing left behind) on any error."""
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=SUFFIX, dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(pack(payload))
        os.replace(tmp, entry_path(key, directory))
    except OSError:
        if tmp is not None:
            _remove(tmp)
        return False
    prune(directory, max_bytes())
    return True


def prune(directory: str, limit: int) -> int:
    """Delete least recently used entries until the directory holds at most `limit`
    bytes, and temporary files left by killed writers; return how many were removed."""
    entries, total, removed = [], 0, 0
    now = time.time()
    try:
        with os.scandir(directory) as it:
            for e in it:
                if not e.name.endswith(SUFFIX):
                    continue
                try:
                    st = e.stat()
                except OSError:
                    continue
                if e.name.startswith(TMP_PREFIX):
                    if now - st.st_mtime > STALE_TMP_SECONDS:
                        _remove(e.path)
                        removed += 1
                    continue
                entries.append((st.st_mtime, st.st_size, e.path))
                total += st.st_size
    except OSError:
        return removed
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        _remove(path)
        total -= size
        removed += 1
    return removed
