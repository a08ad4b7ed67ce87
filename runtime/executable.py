"""Loading a compiled module on a device and calling its entry function.

On CPU a module runs on one of two IREE drivers, chosen per module by the work
estimate `compiler.annotate` stores in its reflection: `local-sync` runs dispatches
on the calling thread (~2 µs a call), `local-task` spreads them over worker threads
(~6 µs a call at best, and waking the workers costs tens of µs per dispatch when the
machine is busy). Both allocate plain host memory, so their buffers mix freely.
Set IRGRAD_CPU_DRIVER=local-sync or local-task to force one.
"""

from __future__ import annotations

import os
import threading

import iree.runtime as rt
import numpy as np
from iree.runtime.array_interop import map_dtype_to_element_type

from .compiler import WORK_KEY

DRIVERS = {"cpu": "local-sync", "vulkan": "vulkan", "cuda": "cuda"}
TARGETS = {"cpu": "llvm-cpu", "vulkan": "vulkan-spirv", "cuda": "cuda"}

# Modules doing at least this many loop iterations (multiply-adds, elements) run on
# local-task. Measured on 2 vCPUs shared with other jobs: local-sync was faster up to
# and including an MLP training step (~1.3e8), local-task faster for a 1024^3 matmul
# gradient (3.2e9). See benchmarks/results.md.
TASK_WORK = 1 << 28
THREADED_DRIVER = "local-task"

_configs: dict[str, rt.Config] = {}
_lock = threading.Lock()


def driver_config(driver: str) -> rt.Config:
    """The shared runtime config (VM instance + device) for an IREE driver name."""
    with _lock:
        cfg = _configs.get(driver)
        if cfg is None:
            cfg = _configs[driver] = rt.Config(driver)
        return cfg


def config(platform: str = "cpu") -> rt.Config:
    """The default runtime config for a platform (where uploads go)."""
    return driver_config(DRIVERS[platform])


def cpu_driver(work: int | None) -> str:
    """`local-task` for modules with at least TASK_WORK iterations, else `local-sync`.

    >>> cpu_driver(4), cpu_driver(1 << 30)
    ('local-sync', 'local-task')
    """
    forced = os.environ.get("IRGRAD_CPU_DRIVER")
    if forced:
        return forced
    return THREADED_DRIVER if work is not None and work >= TASK_WORK else DRIVERS["cpu"]


class Executable:
    """A compiled module loaded for one device; call it with NumPy arrays or
    device arrays, get device arrays back.

    Calls go straight to `VmContext.invoke` with argument lists built here;
    iree.runtime's FunctionInvoker adds ~1-5 µs a call of generic packing, as much
    as the call itself on local-sync. Our modules take and return only tensors.
    """

    def __init__(self, vmfb: bytes, entry: str = "main", platform: str = "cpu"):
        self.platform = platform
        self.config = config(platform)
        self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, vmfb)
        self.driver = DRIVERS[platform]
        if platform == "cpu":
            fn = self.vm_module.lookup_function(entry)
            work = fn.reflection.get(WORK_KEY) if fn is not None else None
            self.driver = cpu_driver(int(work) if work is not None else None)
            if self.driver != DRIVERS["cpu"]:
                self.config = driver_config(self.driver)
                self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, vmfb)
        self.device = self.config.device
        self.context = rt.SystemContext(vm_modules=[self.vm_module], config=self.config)
        self.fn = self.context.modules[self.vm_module.name][entry]
        self.vm_function = self.fn.vm_function
        self.vm_context = self.context.vm_context
        self._n_results = 1       # a capacity hint (the list grows); set by the first call
        self._all_refs = None     # whether every result is a buffer; set by the first call

    def _arg(self, x):
        if isinstance(x, rt.DeviceArray):
            return x._buffer_view
        x = np.asarray(x, order="C")
        return self.device.allocator.allocate_buffer_copy(
            memory_type=rt.MemoryType.DEVICE_LOCAL, allowed_usage=rt.BufferUsage.DEFAULT, device=self.device,
            buffer=x, element_type=map_dtype_to_element_type(x.dtype))

    def __call__(self, *args):
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


def to_device(x: np.ndarray, platform: str = "cpu"):
    """Copy `x` to the platform's device (0-d stays 0-d: not np.ascontiguousarray)."""
    return rt.asdevicearray(config(platform).device, np.asarray(x, order="C"))
