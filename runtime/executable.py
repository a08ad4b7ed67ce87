"""Loading a compiled module on a device, calling its entry function, and moving
arrays between the host and devices.

Platforms (JAX's word) map to an IREE compile target and a runtime driver, as the
table in `backends` says (cpu -> llvm-cpu on `local-sync` / `local-task`, vulkan ->
vulkan-spirv on `vulkan`, cuda -> cuda on `cuda`). A platform's devices are what its
driver's `query_available_devices()` reports; device `index` i is the i-th of them.

On CPU (a backend with a `threaded_driver`) a module runs on one of two IREE drivers,
chosen per module by the work estimate `compiler.annotate` stores in its reflection: `local-sync` runs dispatches
on the calling thread (~2 µs a call), `local-task` spreads them over worker threads
(~6 µs a call at best, and waking the workers costs tens of µs per dispatch when the
machine is busy). Both allocate plain host memory, so their buffers mix freely.
Set IRGRAD_CPU_DRIVER=local-sync or local-task to force one.

Mesa's lavapipe (CPU Vulkan, Mesa 22.3 in Debian 12) polls in `vkWaitSemaphores` when
asked to wait for any of several semaphores, which is what IREE's per-queue completion
threads do for the device's whole life: an idle lavapipe device kept two cores busy, and
starved everything else in the process and on the machine (the test suite ran 2x
slower). `_create_device` finds those threads (new, and never asleep while the device
is idle) and renices them to POLLER_NICE, so they take only CPU nobody else wants. The
price is latency, as those threads also deliver completions: a small lavapipe call took
39 ms instead of 9.5 on an idle 2-core machine, 230 instead of 20 with both cores busy
(where the pollers had taken a whole core). IRGRAD_LAVAPIPE_POLLERS=normal leaves them be.

Reading a Vulkan or CUDA buffer back goes through a host-visible staging buffer:
`DeviceArray.to_host()` imports the NumPy array's memory into the device instead,
which Mesa's lavapipe refuses for pointers not aligned to 4096 bytes
("minImportedHostPointerAlignment 4096").
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import iree.runtime as rt
import numpy as np
from iree.runtime.array_interop import map_dtype_to_element_type
from numpy.typing import DTypeLike

from .backends import BACKENDS, PLATFORMS, Backend, backend
from .keys import WORK_KEY

# Modules doing at least this many loop iterations (multiply-adds, elements) run on
# local-task. Measured on 2 vCPUs shared with other jobs: local-sync was faster up to
# and including an MLP training step (~1.3e8), local-task faster for a 1024^3 matmul
# gradient (3.2e9). See benchmarks/results.md.
TASK_WORK = 1 << 28
CPU = backend("cpu")
THREADED_DRIVER = CPU.threaded_driver
CPU_DRIVERS = CPU.drivers   # what IRGRAD_CPU_DRIVER may force

# Host <-> device copies made so far (read by tests: a training loop on a device makes none).
transfers = {"to_host": 0, "to_device": 0}

_configs: dict[str | tuple[str, int], rt.Config] = {}
_device_lists: dict[str, list[dict]] = {}
_lock = threading.Lock()


# A new thread found runnable at each of POLL_SAMPLES looks, POLL_INTERVAL seconds
# apart, while the just-made device is idle is polling (see the top). Its state, not
# its CPU time, is what counts: on a loaded machine a poller may get little CPU, but is
# never asleep.
POLL_SAMPLES = 10
POLL_INTERVAL = 0.005
POLLER_NICE = 19
POLLERS_ENV = "IRGRAD_LAVAPIPE_POLLERS"


def _threads() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:      # not Linux
        return set()


def _runnable(tid: int) -> bool:
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        return False


def _pollers(tids: set[int]) -> set[int]:
    """Those of `tids` found runnable at every one of POLL_SAMPLES looks."""
    found = set(tids)
    for _ in range(POLL_SAMPLES):
        found = {t for t in found if _runnable(t)}
        time.sleep(POLL_INTERVAL)
    return found


def _demote_pollers(new_threads: set[int]) -> None:
    """Renice those of a new device's threads that poll while it is idle to POLLER_NICE."""
    if os.environ.get(POLLERS_ENV, "").strip().lower() == "normal":
        return
    for tid in _pollers(new_threads):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, POLLER_NICE)
        except OSError:   # gone already
            pass


def _create_device(driver: str, info: dict | None = None) -> rt.HalDevice:
    """A new device of `driver` (`info` from `device_infos`, else its first device); a
    lavapipe device's polling threads are demoted (see the top)."""
    before = _threads()
    d = rt.get_driver(driver)
    device = d.create_device(info) if info is not None else d.create_default_device()
    if driver == "vulkan" and "llvmpipe" in (info or d.query_available_devices()[0]).get("name", ""):
        _demote_pollers(_threads() - before)
    return device


def driver_config(driver: str) -> rt.Config:
    """The shared runtime config (VM instance + device) for an IREE driver name."""
    with _lock:
        cfg = _configs.get(driver)
        if cfg is None:
            cfg = _configs[driver] = rt.Config(device=_create_device(driver))
        return cfg


def device_infos(platform: str) -> list[dict]:
    """The devices IREE's driver for `platform` finds (`query_available_devices`).

    Raises RuntimeError saying why when there are none (no driver, no device).

    >>> device_infos("cpu")[0]["name"]
    'default'
    """
    with _lock:
        found = _device_lists.get(platform)
    if found is not None:
        return found
    if platform not in PLATFORMS:
        raise RuntimeError(f"Unknown platform {platform!r}; irgrad knows {', '.join(PLATFORMS)}")
    driver = backend(platform).driver
    try:
        found = list(rt.get_driver(driver).query_available_devices())
    except Exception as e:   # the driver library is missing or fails to start
        raise RuntimeError(f"IREE's {driver!r} driver is not available: {e}") from None
    if not found:
        raise RuntimeError(f"IREE's {driver!r} driver found no device")
    with _lock:
        _device_lists[platform] = found
    return found


def config(platform: str = "cpu", index: int = 0) -> rt.Config:
    """The runtime config (VM instance + device) of device `index` of a platform."""
    if index == 0:
        return driver_config(backend(platform).driver)
    info = device_infos(platform)[index]
    with _lock:
        cfg = _configs.get((platform, index))
        if cfg is None:
            cfg = _configs[(platform, index)] = rt.Config(device=_create_device(backend(platform).driver, info))
        return cfg


def has_device(platform: str) -> bool:
    """Whether this process has made a device of `platform` yet (devices are made on first use).

    >>> has_device("cuda")
    False
    """
    drivers = set(backend(platform).drivers)
    with _lock:
        return any(key in drivers or (isinstance(key, tuple) and key[0] == platform) for key in _configs)


def location(device: rt.HalDevice) -> tuple[str, int]:
    """(platform, index) of a device made here (the CPU for one made elsewhere)."""
    with _lock:
        configs = list(_configs.items())
    for key, cfg in configs:
        if cfg.device is device:
            if isinstance(key, tuple):
                return key
            return next((b.name for b in BACKENDS if key in b.drivers), "cpu"), 0
    return "cpu", 0


def cpu_driver(work: int | None, record: Backend = CPU) -> str:
    """The platform's threaded driver (CPU: `local-task`) for modules with at least
    TASK_WORK iterations, else its driver (`local-sync`); IRGRAD_CPU_DRIVER forces one.

    >>> cpu_driver(4), cpu_driver(1 << 30)
    ('local-sync', 'local-task')
    """
    forced = os.environ.get("IRGRAD_CPU_DRIVER", "").strip()
    if forced:
        if forced not in record.drivers:
            raise ValueError(f"IRGRAD_CPU_DRIVER={forced!r}: expected one of {', '.join(record.drivers)}, or "
                             "unset it (irgrad then picks per module)")
        return forced
    threaded = record.threaded_driver is not None and work is not None and work >= TASK_WORK
    return record.threaded_driver if threaded else record.driver


def _upload(device: rt.HalDevice, x: np.ndarray) -> rt.HalBufferView:
    transfers["to_device"] += 1
    return device.allocator.allocate_buffer_copy(
        memory_type=rt.MemoryType.DEVICE_LOCAL, allowed_usage=rt.BufferUsage.DEFAULT, device=device,
        buffer=x, element_type=map_dtype_to_element_type(x.dtype))


class Executable:
    """A compiled module loaded for one device; call it with NumPy arrays or
    device arrays, get device arrays back.

    Calls go straight to `VmContext.invoke` with argument lists built here;
    iree.runtime's FunctionInvoker adds ~1-5 µs a call of generic packing, as much
    as the call itself on local-sync. Our modules take and return only tensors.
    """

    def __init__(self, vmfb: bytes, entry: str = "main", platform: str = "cpu", index: int = 0) -> None:
        self.platform, self.index = platform, index
        self.config = config(platform, index)
        self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, vmfb)
        record = backend(platform)
        self.driver = record.driver
        if record.threaded_driver is not None and index == 0:
            fn = self.vm_module.lookup_function(entry)
            work = fn.reflection.get(WORK_KEY) if fn is not None else None
            self.driver = cpu_driver(int(work) if work is not None else None, record)
            if self.driver != record.driver:
                self.config = driver_config(self.driver)
                self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, vmfb)
        self.device = self.config.device
        self.context = rt.SystemContext(vm_modules=[self.vm_module], config=self.config)
        self.fn = self.context.modules[self.vm_module.name][entry]
        self.vm_function = self.fn.vm_function
        self.vm_context = self.context.vm_context
        self._n_results = 1       # a capacity hint (the list grows); set by the first call
        self._all_refs = None     # whether every result is a buffer; set by the first call

    def _arg(self, x: rt.DeviceArray | np.ndarray) -> rt.HalBufferView:
        if isinstance(x, rt.DeviceArray):
            return x._buffer_view
        return _upload(self.device, np.asarray(x, order="C"))

    def __call__(self, *args: rt.DeviceArray | np.ndarray) -> list[rt.DeviceArray | Any]:
        arg_list = rt.VmVariantList(len(args))
        for x in args:
            arg_list.push_ref(self._arg(x))
        rets = rt.VmVariantList(self._n_results)
        self.vm_context.invoke(self.vm_function, arg_list, rets)
        if self._all_refs is None:   # first call: tensors come back as refs, scalars as values
            self._n_results = rets.size
            self._all_refs = all(isinstance(rets.get_variant(i), rt.VmRef) for i in range(rets.size))
        device, view, wrap = self.device, rt.HalBufferView, rt.DeviceArray
        if self._all_refs:
            return [wrap(device, rets.get_as_object(i, view), True) for i in range(self._n_results)]
        return [wrap(device, rets.get_as_object(i, view), True) if isinstance(v := rets.get_variant(i), rt.VmRef)
                else v for i in range(rets.size)]


def to_device(x: np.ndarray, platform: str = "cpu", index: int = 0) -> rt.DeviceArray:
    """Copy `x` to device `index` of the platform (0-d stays 0-d: not np.ascontiguousarray).

    >>> to_host(to_device(np.arange(3.0, dtype=np.float32)), np.float32, (3,))
    array([0., 1., 2.], dtype=float32)
    """
    device = config(platform, index).device
    return rt.DeviceArray(device, _upload(device, np.asarray(x, order="C")), True)


def _sync_copy(device: rt.HalDevice, src: rt.HalBuffer, dst: rt.HalBuffer) -> None:
    sem = device.create_semaphore(0)
    device.queue_copy(src, dst, rt.HalFence.create_at(sem, 0), rt.HalFence.create_at(sem, 1))
    rt.HalFence.create_at(sem, 1).wait()


def _staged_to_host(array: rt.DeviceArray) -> np.ndarray:
    """The buffer's bytes, copied by the device into a host-visible staging buffer."""
    src = array._buffer_view.get_buffer()
    staging = array._device.allocator.allocate_buffer(
        rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE,
        rt.BufferUsage.TRANSFER_TARGET | rt.BufferUsage.MAPPING_SCOPED, src.byte_length())
    _sync_copy(array._device, src, staging)
    return np.array(staging.map().asarray([src.byte_length()], np.dtype(np.uint8)), copy=True)


def _mappable(array: rt.DeviceArray) -> bool:
    buffer = array._buffer_view.get_buffer()
    return bool(buffer.memory_type() & int(rt.MemoryType.HOST_VISIBLE)) and \
        bool(buffer.allowed_usage() & int(rt.BufferUsage.MAPPING_SCOPED))


def to_host(array: rt.DeviceArray, dtype: DTypeLike, shape: tuple[int, ...]) -> np.ndarray:
    """A host copy of a device array, as a NumPy array of `dtype` and `shape`.

    A buffer the host can map (CPU) is mapped and copied: the mapping dies with the
    buffer, while NumPy views of the result may outlive it. Others (Vulkan, CUDA) are
    staged (see the top).
    """
    transfers["to_host"] += 1
    dtype = np.dtype(dtype)
    if _mappable(array):
        v = np.array(array.to_host(), copy=True).reshape(shape)
        if v.dtype == dtype:
            return v
        return v.view(dtype) if v.dtype.itemsize == dtype.itemsize else v.astype(dtype)
    raw = _staged_to_host(array)
    n = int(np.prod(shape, dtype=np.int64))
    return raw[:n * dtype.itemsize].view(dtype).reshape(shape)
