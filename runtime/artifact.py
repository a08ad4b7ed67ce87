"""Ahead-of-time artifacts: one self-describing .vmfb per exported function.

An artifact is a plain IREE module whose entry function is `main` (so
`iree-run-module --function=main` runs it). Its `iree.reflection` dictionary holds,
under ARTIFACT_KEY, one JSON object describing it: the artifact format version,
the irgrad and IREE versions, the target, the input and output pytree structures
and one {shape, dtype, weak_type} per leaf. Nothing else travels with it.

This module reads and runs artifacts; it needs iree.runtime only (never
iree.compiler), so a machine with just `iree-base-runtime` can load them. The
pytrees and irgrad.Array results are rebuilt one layer up, in frontend/export.py.

An artifact is code: a CPU artifact holds native machine code that runs in the loading
process (as a pickle or `torch.load` file can). Reading the metadata (`read_metadata`,
`irgrad inspect`) parses the module without creating it on a device, so none of its
code runs; `check_sha256` refuses bytes that are not the artifact one expected.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import io
import json
import os
import platform as _platform
import threading
import zipfile
from typing import Any

import iree.runtime as rt
import numpy as np

from .backends import PLATFORMS
from .executable import Executable
from .keys import ARTIFACT_KEY

# Bumped whenever the metadata changes in a way older readers would misread.
# Readers accept MIN_FORMAT_VERSION <= format <= FORMAT_VERSION.
FORMAT_VERSION = 1
MIN_FORMAT_VERSION = 1
ENTRY = "main"
# What every artifact's metadata must hold (checked on load).
REQUIRED = ("format", "irgrad", "target", "in_tree", "out_tree", "in_avals", "out_avals")
# A FlatBuffer's 4-byte file identifier sits at offset 4; IREE's is "IREE".
FLATBUFFER_ID = b"IREE"

_instance = None
_instance_lock = threading.Lock()


class ArtifactError(ValueError):
    """A file that is not a valid irgrad artifact, or one this irgrad cannot read."""


def irgrad_version() -> str:
    try:
        return importlib.metadata.version("irgrad")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def runtime_version() -> str:
    """The iree-base-runtime version, e.g. '3.13.0rc20261016@89ece87b'."""
    try:
        from iree.runtime import version
        return f"{version.VERSION}@{getattr(version, 'REVISIONS', {}).get('IREE', '')}"
    except ImportError:  # pragma: no cover - older wheels
        return "unknown"


def host_machine() -> str:
    """The CPU architecture CPU artifacts are compiled for, e.g. 'x86_64'."""
    return _platform.machine()


def _vm_instance() -> rt.VmInstance:
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = rt.VmInstance()
        return _instance


def read_bytes(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    """(the artifact's bytes, a name for messages) from a path or from bytes."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return bytes(path_or_bytes), "<bytes>"
    path = os.fspath(path_or_bytes)
    with open(path, "rb") as f:
        return f.read(), path


def sha256(data: bytes) -> str:
    """The SHA-256 of an artifact's bytes, in hex: what `irgrad inspect` shows and
    `irgrad.load(..., expected_sha256=)` checks.

    >>> sha256(b"")
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, expected: str, name: str) -> None:
    """Refuse `data` unless its SHA-256 is `expected` (64 hex digits, any case)."""
    want = str(expected).strip().lower()
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise ValueError(f"expected SHA-256 {expected!r} is not 64 hex digits")
    got = sha256(data)
    if not hmac.compare_digest(got, want):
        raise ArtifactError(f"{name} has SHA-256 {got}, not the expected {want}; refusing to load it (an artifact "
                            "is native code that would run in this process)")


def check_container(data: bytes, name: str) -> None:
    """Catch truncation and corruption before IREE sees the bytes: a .vmfb is a zip
    archive (the module FlatBuffer plus the device executables, each with a CRC-32)
    or, from older compilers, a bare FlatBuffer."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            raise ArtifactError(f"{name} is not a valid irgrad artifact: damaged archive ({e})") from None
        if bad is not None:
            raise ArtifactError(f"{name} is not a valid irgrad artifact: checksum mismatch in {bad!r} "
                                "(the file is corrupt)")
    elif data[4:8] != FLATBUFFER_ID:
        raise ArtifactError(f"{name} is not a valid irgrad artifact: not an IREE module (.vmfb); "
                            f"it starts with {data[:8]!r}")


def vm_module(data: bytes, name: str, instance: rt.VmInstance | None = None) -> rt.VmModule:
    """The IREE VmModule for `data`, with IREE's own verification errors reworded."""
    try:
        return rt.VmModule.copy_buffer(instance or _vm_instance(), data)
    except (ValueError, RuntimeError) as e:
        raise ArtifactError(f"{name} is not a valid irgrad artifact: IREE cannot load it (corrupt, or compiled "
                            f"by an IREE incompatible with this runtime {runtime_version()}): {e}") from None


def read_metadata(data: bytes, name: str = "<bytes>") -> dict:
    """Validate an artifact and return its metadata (the JSON in @main's reflection)."""
    check_container(data, name)
    module = vm_module(data, name)
    fn = module.lookup_function(ENTRY)   # (a VmFunction does not keep its module alive)
    if fn is None:
        raise ArtifactError(f"{name} is not a valid irgrad artifact: it has no @{ENTRY} function")
    text = fn.reflection.get(ARTIFACT_KEY)
    del fn, module
    if text is None:
        raise ArtifactError(f"{name} is not a valid irgrad artifact: @{ENTRY} carries no irgrad metadata "
                            f"({ARTIFACT_KEY!r} in its iree.reflection); it is a plain IREE module")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{name} is not a valid irgrad artifact: unreadable metadata ({e})") from None
    check_format(meta, name)
    return meta


def check_format(meta: Any, name: str) -> None:
    """Refuse metadata from an incompatible irgrad, naming both versions."""
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), int):
        raise ArtifactError(f"{name} is not a valid irgrad artifact: metadata has no format version")
    fmt, writer = meta["format"], meta.get("irgrad", "unknown")
    if fmt > FORMAT_VERSION:
        raise ArtifactError(
            f"{name} was exported by irgrad {writer} in artifact format {fmt}; this irgrad {irgrad_version()} reads "
            f"formats {MIN_FORMAT_VERSION} to {FORMAT_VERSION}. Upgrade irgrad, or re-export with this version.")
    if fmt < MIN_FORMAT_VERSION:
        raise ArtifactError(
            f"{name} was exported by irgrad {writer} in artifact format {fmt}, which this irgrad "
            f"{irgrad_version()} no longer reads (formats {MIN_FORMAT_VERSION} to {FORMAT_VERSION}); re-export it.")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ArtifactError(f"{name} is not a valid irgrad artifact: metadata lacks {', '.join(missing)}")


def check_platform(meta: dict, platform: str | None, name: str = "<bytes>") -> str:
    """The platform ('cpu', 'vulkan', 'cuda') to run on: `platform`, else the
    artifact's target. They must agree, and a CPU artifact must match this CPU."""
    target = meta["target"]
    if target not in PLATFORMS:
        raise ArtifactError(f"{name} targets {target!r}, which this irgrad does not know ({', '.join(PLATFORMS)})")
    platform = platform or target
    if platform != target:
        raise ValueError(f"{name} was compiled for {target} and cannot run on {platform}; re-export it with "
                         f"target={platform!r}")
    machine = meta.get("machine")
    if target == "cpu" and machine and machine != host_machine():
        raise ValueError(f"{name} was compiled for {machine} CPUs; this machine is {host_machine()}")
    return target


class Artifact:
    """A validated artifact loaded on device `index` of a platform: call it with the
    flat input leaves (NumPy arrays or device arrays), get flat device arrays back.

    >>> art = Artifact(open("model.vmfb", "rb").read())        # doctest: +SKIP
    >>> art.meta["in_avals"], art(*inputs)                     # doctest: +SKIP
    """

    def __init__(self, data: bytes, platform: str | None = None, index: int = 0, name: str = "<bytes>") -> None:
        self.meta = read_metadata(data, name)
        self.name = name
        self.platform = check_platform(self.meta, platform, name)
        try:
            self.executable = Executable(data, ENTRY, self.platform, index)
        except (ValueError, RuntimeError) as e:
            raise RuntimeError(f"irgrad: cannot load {name} on {self.platform}:{index}: {e}") from None

    def __call__(self, *inputs: rt.DeviceArray | np.ndarray) -> list[rt.DeviceArray | Any]:
        return self.executable(*inputs)
