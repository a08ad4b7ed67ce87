"""The on-disk compile cache: one file per compiled module, shared by this user's processes.

Where: `$IRGRAD_CACHE_DIR` if set, else the user's cache directory
(`$XDG_CACHE_HOME/irgrad` or `~/.cache/irgrad` on Linux, `~/Library/Caches/irgrad` on
macOS, `%LOCALAPPDATA%\\irgrad\\Cache` on Windows). `IRGRAD_CACHE_DIR=off` turns it off.
The directory is kept under `$IRGRAD_CACHE_MAX_MB` (default 1024): after each write the
least recently used entries go. A directory that cannot be written, or a size limit that is
not a number, gives one `CacheWarning` and modules are kept in memory.

An entry is a header (magic, format version, payload length, HMAC-SHA256 of the payload
under this user's key) followed by the .vmfb. A truncated, corrupted or forged entry
fails the check, is deleted and reads as a miss, so the caller compiles again; nothing
here ever raises. Writes go to a temporary file in the same directory and are renamed
into place (`os.replace` is atomic), so readers never see half an entry and processes
writing the same entry at once each leave a whole one.

A .vmfb is native code that runs in the calling process, so the cache trusts only what
this user wrote (as ssh trusts only a private ~/.ssh): the directory is created 0700 and
entries 0600; a directory or entry owned by another user, writable by group or others,
or (an entry) a symbolic link is not used: one `InsecureCacheWarning` names it and why,
and the module is compiled instead. The key (`cache-key`, 32 random bytes, 0600) lives
in `$IRGRAD_CONFIG_DIR` or the user's config directory (`$XDG_CONFIG_HOME/irgrad`,
`~/.config/irgrad`; macOS `~/Library/Application Support/irgrad`; Windows
`%APPDATA%\\irgrad`), so an entry copied in from elsewhere is rejected too.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> write("ab" * 32, b"vmfb bytes", d), read("ab" * 32, d)
(True, (b'vmfb bytes', 'hit'))
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import stat
import struct
import sys
import time
import warnings

MAGIC = b"IRGRADC\0"
FORMAT_VERSION = 2          # 2: the digest is an HMAC under the user's key (1: a plain SHA-256)
# magic, format version, payload length, HMAC-SHA256 of the payload
HEADER = struct.Struct("<8sIQ32s")
SUFFIX = ".vmfb-entry"
TMP_PREFIX = ".tmp-"
DEFAULT_MAX_MB = 1024
STALE_TMP_SECONDS = 3600    # temporary files older than this were left by a killed writer
OFF = "off"
KEY_FILE = "cache-key"
KEY_BYTES = 32

# POSIX: the directory is opened once, checked, and entries are opened relative to that
# descriptor, so the directory checked is the one used. Elsewhere (Windows) by path.
_BY_FD = os.open in os.supports_dir_fd and os.scandir in os.supports_fd
_OPEN_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_warned: set = set()
_keys: dict = {}            # key file path -> key, read once per process


class InsecureCacheWarning(UserWarning):
    """A cache directory, entry or key that another user could have written was not used."""


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
    """The size limit from `$IRGRAD_CACHE_MAX_MB` (megabytes, default 1024); a value that is not
    a number >= 0 warns once (CacheWarning) and the default is used.

    >>> max_bytes() // 2**20   # doctest: +SKIP
    1024
    """
    text = os.environ.get("IRGRAD_CACHE_MAX_MB", "").strip()
    if not text:
        return DEFAULT_MAX_MB * 2**20
    try:
        mb = float(text)
    except ValueError:
        mb = -1.0
    if not mb >= 0 or mb == float("inf"):
        _warn_once(("IRGRAD_CACHE_MAX_MB", text), f"irgrad: IRGRAD_CACHE_MAX_MB={text!r} is not a number of megabytes "
                   f">= 0; using the default {DEFAULT_MAX_MB}. Set it to e.g. 512, or unset it.")
        return DEFAULT_MAX_MB * 2**20
    return int(mb * 2**20)


class CacheWarning(UserWarning):
    """The compile cache is misconfigured or cannot be written: modules are compiled in memory."""


def _warn_once(key, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, CacheWarning, stacklevel=4)


def entry_path(key: str, directory: str) -> str:
    return os.path.join(directory, key + SUFFIX)


def _user_config_home() -> str:
    if sys.platform == "win32":
        return os.path.join(os.environ.get("APPDATA") or os.path.expanduser(r"~\AppData\Roaming"), "irgrad")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/irgrad")
    return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "irgrad")


def config_dir() -> str:
    """Where the cache's key lives: `$IRGRAD_CONFIG_DIR`, else the user's config directory.

    >>> config_dir()   # doctest: +SKIP
    '/home/me/.config/irgrad'
    """
    d = os.environ.get("IRGRAD_CONFIG_DIR", "").strip()
    return os.path.abspath(os.path.expanduser(d)) if d else _user_config_home()


# ------------------------------------------------------------------ what is trusted


def current_uid() -> int | None:
    """The user whose files the cache trusts: this process's effective uid (None where
    files have no POSIX owner). The one seam a test run without root patches."""
    return os.geteuid() if hasattr(os, "geteuid") else None


_WHO = ((0o070, "group"), (0o007, "others"))


def untrusted(st: os.stat_result, private: bool = False) -> str | None:
    """Why a file or directory (its stat) may hold another user's writing, or None: it
    must belong to `current_uid()` and be writable by no one else (`private`: nor readable).

    >>> import tempfile
    >>> untrusted(os.stat(tempfile.mkdtemp())) is None
    True
    """
    uid = current_uid()
    if uid is None:
        return None
    if st.st_uid != uid:
        return f"it is owned by uid {st.st_uid}, not by this user (uid {uid})"
    mode = stat.S_IMODE(st.st_mode)
    loose = mode & (0o077 if private else 0o022)
    if loose:
        who = " and ".join(name for bits, name in _WHO if loose & bits)
        return f"it is {'readable or ' if private else ''}writable by {who} (mode {mode:04o})"
    return None


# what was not used -> what happens instead
_INSTEAD = {
    "directory": "compiling in memory instead. Make it yours and private (chmod 700), or set IRGRAD_CACHE_DIR "
                 "to a private directory",
    "entry": "compiling the module again (the entry will be replaced)",
    "key directory": "compiling in memory instead. Make it yours and private (chmod 700), or set "
                     "IRGRAD_CONFIG_DIR to a private directory",
    "key": "compiling in memory instead. Make it yours and private (chmod 600), or delete it (a new key is "
           "made and the cached modules are compiled again)",
}


def _refuse(what: str, path: str, why: str) -> None:
    """Warn, once per process for each path and reason, that `path` is not used."""
    if (path, why) not in _warned:
        _warned.add((path, why))
        warnings.warn(f"irgrad: not using the compile cache {what} {path}: {why}; {_INSTEAD[what]}.",
                      InsecureCacheWarning, stacklevel=4)


def _is_symlink_error(e: OSError) -> bool:
    return e.errno in (errno.ELOOP, errno.EMLINK)   # O_NOFOLLOW on a link: ELOOP (FreeBSD: EMLINK)


class _Dir:
    """A checked directory. On POSIX names are opened relative to its descriptor, so a
    directory swapped in after the check is never used."""

    def __init__(self, path: str, fd: int | None):
        self.path, self.fd = path, fd

    def _name(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        return os.open(self._name(name), flags | _OPEN_FLAGS, mode, dir_fd=self.fd)

    def replace(self, src: str, dst: str) -> None:
        os.replace(self._name(src), self._name(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def remove(self, name: str) -> None:
        try:
            os.remove(self._name(name), dir_fd=self.fd)
        except OSError:
            pass

    def scandir(self):
        return os.scandir(self.fd if self.fd is not None else self.path)


@contextlib.contextmanager
def _checked_dir(directory: str, create: bool, what: str = "directory"):
    """The directory as a _Dir if it is trusted, else None (and a warning). With `create`
    it is made first, 0700. OSError when it cannot be made or opened."""
    if create:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if not _BY_FD:
        yield _Dir(directory, None)
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        why = untrusted(os.fstat(fd))
        if why:
            _refuse(what, directory, why)
        yield None if why else _Dir(directory, fd)
    finally:
        os.close(fd)


def _open_trusted(d: _Dir, name: str, what: str, private: bool = False):
    """A binary file object for reading `name` in `d`, or None (and a warning) when it is
    a symbolic link, not a regular file, or not trusted. OSError when it cannot be opened."""
    path = os.path.join(d.path, name)
    try:
        fd = d.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if not _is_symlink_error(e):
            raise
        _refuse(what, path, "it is a symbolic link")
        return None
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    why = "it is not a regular file" if not stat.S_ISREG(st.st_mode) else untrusted(st, private)
    if why:
        f.close()
        _refuse(what, path, why)
        return None
    return f


# ------------------------------------------------------------------ the user's key


def user_key() -> bytes | None:
    """This user's cache key (made on first use, then read once per process), or None,
    with a warning, when it cannot be read or made, or someone else could read or write it.

    >>> len(user_key())   # doctest: +SKIP
    32
    """
    directory = config_dir()
    path = os.path.join(directory, KEY_FILE)
    if path not in _keys:
        try:
            with _checked_dir(directory, create=True, what="key directory") as d:
                key = None if d is None else _read_or_make_key(d, path)
        except OSError as e:
            _refuse("key", path, f"it cannot be read or made ({e.strerror or e})")
            key = None
        if key is None:
            return None
        _keys[path] = key
    return _keys[path]


def _read_or_make_key(d: _Dir, path: str) -> bytes | None:
    got = b""
    for _ in range(100):   # another process may have just created it and not yet written it
        f = None
        try:
            f = _open_trusted(d, KEY_FILE, "key", private=True)
        except FileNotFoundError:
            _make_key(d)
            continue
        if f is None:
            return None
        with f:
            got = f.read(KEY_BYTES + 1)
        if len(got) == KEY_BYTES:
            return got
        time.sleep(0.01)
    _refuse("key", path, f"it holds {len(got)} bytes, not {KEY_BYTES}")
    return None


def _make_key(d: _Dir) -> None:
    try:   # O_EXCL: of processes making it at once, one wins and all read the same key
        fd = d.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(KEY_BYTES))


# ------------------------------------------------------------------ entries


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def pack(payload: bytes, key: bytes) -> bytes:
    """Header + payload, as stored on disk; `key` is the user's (`user_key()`)."""
    return HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), _mac(key, payload)) + payload


def unpack(blob: bytes, key: bytes) -> bytes | None:
    """The payload of a stored entry, or None if it is truncated, corrupted, from another
    format, or written under another key (by someone else).

    >>> k = bytes(32)
    >>> unpack(pack(b"abc", k), k), unpack(pack(b"abc", k)[:-1], k), unpack(b"junk", k), unpack(pack(b"abc", k), b"x")
    (b'abc', None, None, None)
    """
    if len(blob) < HEADER.size:
        return None
    magic, version, length, digest = HEADER.unpack_from(blob)
    payload = blob[HEADER.size:]
    if magic != MAGIC or version != FORMAT_VERSION or length != len(payload):
        return None
    return payload if hmac.compare_digest(_mac(key, payload), digest) else None


def read(key: str, directory: str) -> tuple[bytes | None, str]:
    """(payload, "hit"); (None, "miss") when there is no readable entry; (None, "bad")
    when the entry failed its check (it is deleted, and the next write replaces it);
    (None, "refused") when the directory, the entry or the user's key is not trusted."""
    mac_key = user_key()
    if mac_key is None:
        return None, "refused"
    name = key + SUFFIX
    try:
        with _checked_dir(directory, create=False) as d:
            f = None if d is None else _open_trusted(d, name, "entry")
            if f is None:
                return None, "refused"
            with f:
                blob = f.read()
            payload = unpack(blob, mac_key)
            if payload is None:
                d.remove(name)
                return None, "bad"
            _touch(d, name)
            return payload, "hit"
    except OSError:
        return None, "miss"


def _touch(d: _Dir, name: str) -> None:
    """Mark an entry recently used: pruned last."""
    try:
        os.utime(d._name(name), dir_fd=d.fd)
    except OSError:
        pass


def write(key: str, payload: bytes, directory: str) -> bool:
    """Store `payload` under `key` atomically; False (and nothing left behind) on any
    error, or when the directory or the user's key is not trusted."""
    mac_key = user_key()
    if mac_key is None:
        return False
    try:
        with _checked_dir(directory, create=True) as d:
            if d is None:
                return False
            _write_entry(d, key + SUFFIX, pack(payload, mac_key))
            _prune(d, max_bytes())
    except OSError as e:
        _warn_once(("unwritable", directory), f"irgrad: cannot write to the compile cache directory {directory} "
                   f"({e.strerror or e}); compiled modules are kept in this process's memory only. Set "
                   "IRGRAD_CACHE_DIR to a writable directory, or IRGRAD_CACHE_DIR=off.")
        return False
    return True


def _write_entry(d: _Dir, name: str, blob: bytes) -> None:
    tmp = f"{TMP_PREFIX}{secrets.token_hex(8)}{SUFFIX}"
    fd = d.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        d.replace(tmp, name)
    except OSError:
        d.remove(tmp)
        raise


def prune(directory: str, limit: int) -> int:
    """Delete least recently used entries until the directory holds at most `limit`
    bytes, and temporary files left by killed writers; return how many were removed.
    A directory that is not trusted is left alone."""
    try:
        with _checked_dir(directory, create=False) as d:
            return 0 if d is None else _prune(d, limit)
    except OSError:
        return 0


def _prune(d: _Dir, limit: int) -> int:
    entries, total, removed = [], 0, 0
    now = time.time()
    try:
        with d.scandir() as it:
            for e in it:
                if not e.name.endswith(SUFFIX):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if e.name.startswith(TMP_PREFIX):
                    if now - st.st_mtime > STALE_TMP_SECONDS:
                        d.remove(e.name)
                        removed += 1
                    continue
                entries.append((st.st_mtime, st.st_size, e.name))
                total += st.st_size
    except OSError:
        return removed
    for _, size, name in sorted(entries):
        if total <= limit:
            break
        d.remove(name)
        total -= size
        removed += 1
    return removed
