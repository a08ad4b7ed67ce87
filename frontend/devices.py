"""Devices, as in JAX: where arrays live and where computations run.

A platform is `cpu`, `vulkan` or `cuda` (the records of `irgrad.runtime.backends`);
its devices are the ones IREE's runtime driver finds. An array is *committed* to a
device when the user put it there (`device_put(x, device)`, or it came out of a
computation on committed inputs);
a computation runs on its committed inputs' device, else on the default device:
the innermost `with default_device(...)`, else the environment variable
IRGRAD_DEVICE (`cpu`, `vulkan`, `cuda:1`, `gpu`), else the CPU.

>>> import irgrad
>>> irgrad.devices("cpu")
[CpuDevice(id=0)]
>>> x = irgrad.device_put(irgrad.numpy.ones(2), irgrad.devices("cpu")[0])
>>> x.device, x.committed
(CpuDevice(id=0), True)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from irgrad.runtime import backends, executable

from . import dtypes, tree_util

if TYPE_CHECKING:
    import iree.runtime as rt

# Views of the backend table (kept: users and the CLI read them).
PLATFORMS = backends.PLATFORMS
# Device class names in reprs (JAX prints CpuDevice(id=0), CudaDevice(id=0)).
CLASS_NAMES = {b.name: b.device_class for b in backends.BACKENDS}
# JAX code asks for "gpu": the first of these platforms that has a device.
ALIASES = {a: tuple(b.name for b in backends.with_alias(a)) for b in backends.BACKENDS for a in b.aliases}
ENV_VAR = "IRGRAD_DEVICE"


class Device:
    """One device: `platform` ('cpu', 'vulkan', 'cuda'), `id` (its index on that
    platform) and `device_kind` (the name IREE's driver reports).

    >>> Device("vulkan", 0)
    VulkanDevice(id=0)
    """

    __slots__ = ("platform", "id", "device_kind")
    process_index = 0

    def __init__(self, platform: str, id: int = 0, device_kind: str = "") -> None:
        self.platform, self.id, self.device_kind = platform, id, device_kind or platform

    def __repr__(self) -> str:
        return f"{CLASS_NAMES[self.platform]}(id={self.id})"

    def __str__(self) -> str:
        return f"{self.platform}:{self.id}"

    def __eq__(self, other: object) -> bool:
        return self is other or isinstance(other, Device) and (self.platform, self.id) == (other.platform, other.id)

    def __hash__(self) -> int:
        return hash((self.platform, self.id))

    def __reduce__(self) -> tuple[type, tuple[str, int, str]]:
        return Device, (self.platform, self.id, self.device_kind)


CPU = Device("cpu", 0, "cpu")
_found: dict[str, list[Device] | str] = {}     # platform -> its devices, or why it has none
_found_lock = threading.Lock()


def _lookup(platform: str) -> list[Device] | str:
    """The platform's devices, or IREE's reason for finding none (both cached)."""
    with _found_lock:
        found = _found.get(platform)
    if found is not None:
        return found
    if platform == "cpu":
        found = [CPU]
    else:
        try:
            found = [Device(platform, i, info.get("name", ""))
                     for i, info in enumerate(executable.device_infos(platform))]
        except RuntimeError as e:
            found = str(e)
    with _found_lock:
        _found[platform] = found
    return found


def _platform_devices(platform: str) -> list[Device]:
    """The platform's devices; RuntimeError (JAX's wording, plus IREE's reason) if none."""
    if platform not in PLATFORMS:
        raise RuntimeError(f"Unknown backend {platform}. Available backends are {_present()}")
    found = _lookup(platform)
    if isinstance(found, str):
        raise RuntimeError(f"Backend '{platform}' failed to initialize: {found}. Available backends are {_present()}")
    return found


def _present() -> list[str]:
    return [p for p in PLATFORMS if not isinstance(_lookup(p), str)]


def _canonical_platform(backend: str) -> str:
    backend = backend.lower()
    if backend not in ALIASES:
        return backend
    present = _present()
    for p in ALIASES[backend]:
        if p in present:
            return p
    raise RuntimeError(f"Unknown backend: '{backend}' requested, but no platforms that are instances of "
                       f"{backend} are present. Platforms present are: {','.join(present)}")


def devices(backend: str | None = None) -> list[Device]:
    """The devices of a platform ('cpu', 'vulkan', 'cuda'; 'gpu' is CUDA, else Vulkan);
    with no argument, those of the default device's platform.

    >>> devices()
    [CpuDevice(id=0)]
    """
    if backend is None:
        return _platform_devices(get_default_device().platform)
    return _platform_devices(_canonical_platform(backend))


def local_devices(process_index: int | None = None, backend: str | None = None) -> list[Device]:
    """Same as `devices` (irgrad runs in one process)."""
    return devices(backend)


def device_count(backend: str | None = None) -> int:
    """How many devices `devices(backend)` lists."""
    return len(devices(backend))


local_device_count = device_count


def default_backend() -> str:
    """The default device's platform, e.g. 'cpu'."""
    return get_default_device().platform


def resolve(device: Device | str) -> Device:
    """A Device from a Device, a platform name or 'platform:index' (as IRGRAD_DEVICE)."""
    if isinstance(device, Device):
        return device
    if isinstance(device, str):
        name, _, index = device.partition(":")
        found = devices(name)
        i = int(index) if index else 0
        if not 0 <= i < len(found):
            raise RuntimeError(f"No device {device!r}: the {found[0].platform} devices are {found}")
        return found[i]
    raise TypeError(f"Expected a Device or a platform name, got {device!r}")


# ---------------------------------------------------------------- the default device

_default: contextvars.ContextVar = contextvars.ContextVar("irgrad_default_device", default=None)


@functools.cache
def _env_device() -> Device:
    """The device $IRGRAD_DEVICE names (read once, like JAX's flags), or the CPU."""
    env = os.environ.get(ENV_VAR)
    if not env:
        return CPU
    try:
        return resolve(env)
    except (RuntimeError, ValueError) as e:
        raise RuntimeError(f"{ENV_VAR}={env!r} names no usable device: {e}") from None


def get_default_device() -> Device:
    """Where uncommitted computations run: `with default_device(...)`, else
    $IRGRAD_DEVICE, else the CPU."""
    device = _default.get()
    return device if device is not None else _env_device()


@contextlib.contextmanager
def default_device(device: Device | str | None) -> Iterator[None]:
    """Run uncommitted computations on `device` (a Device or platform name) inside the block.

    >>> import irgrad, irgrad.numpy as jnp
    >>> with irgrad.default_device(irgrad.devices("cpu")[0]):
    ...     irgrad.jit(jnp.sin)(0.0).device
    CpuDevice(id=0)
    """
    token = _default.set(None if device is None else resolve(device))
    try:
        yield
    finally:
        _default.reset(token)


# ------------------------------------------------------------------ moving arrays


def _put_leaf(x: Any, device: Device | None) -> Any:
    from .array import Array
    from .core import Tracer
    if isinstance(x, Tracer):      # under a trace, placement is the outer call's business
        return x
    if not isinstance(x, Array):
        dtype, weak = dtypes.dtype_and_weak(x)
        x = Array(np.asarray(x, dtype), weak_type=weak)
    return x._put(device or get_default_device(), committed=device is not None)


def device_put(x: Any, device: Device | str | None = None, *, may_alias: bool | None = None,
               donate: bool = False) -> Any:
    """Put each array leaf of `x` on `device` (committed there), or with no device on
    the default device, uncommitted. The copy happens now; on a Vulkan or CUDA device
    the host keeps no copy.

    >>> import irgrad
    >>> irgrad.device_put({"w": 1.0}, irgrad.devices("cpu")[0])["w"]
    Array(1., dtype=float32, weak_type=True)
    """
    target = None if device is None else resolve(device)
    return tree_util.tree_map(lambda leaf: _put_leaf(leaf, target), x)


def device_get(x: Any) -> Any:
    """The tree `x` with each irgrad array replaced by a NumPy array (a host copy).

    >>> import irgrad, irgrad.numpy as jnp
    >>> irgrad.device_get({"a": jnp.ones(2)})
    {'a': array([1., 1.], dtype=float32)}
    """
    from .array import Array
    return tree_util.tree_map(lambda leaf: np.asarray(leaf) if isinstance(leaf, Array) else leaf, x)


def holding(buffer: rt.DeviceArray) -> Device:
    """The Device a runtime buffer (iree.runtime.DeviceArray) lives on."""
    platform, index = executable.location(buffer._device)
    return CPU if platform == "cpu" else _platform_devices(platform)[index]


def committed_device(leaves: Sequence[Any], describe: Callable[[int], str] | None = None) -> Device | None:
    """The device the committed Arrays among `leaves` share (None if none is committed).
    Two different devices raise JAX's error; `describe(i)` names leaf i in it."""
    found, first = None, None
    for i, x in enumerate(leaves):
        if getattr(x, "_committed", False):     # (only irgrad Arrays have it)
            if found is None:
                found, first = x._placement, i
            elif x._placement != found:
                name = describe or (lambda k: f"argument {k}")
                raise ValueError(
                    "Received incompatible devices for jitted computation. Got "
                    f"{name(first)} with shape {leaves[first].aval.str_short()} and with device ids [{found.id}] "
                    f"on platform {found.platform.upper()} and {name(i)} with shape {x.aval.str_short()} and "
                    f"with device ids [{x._placement.id}] on platform {x._placement.platform.upper()}")
    return found
