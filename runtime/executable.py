"""Loading a compiled module on a device and calling its entry function."""

from __future__ import annotations

import threading

import iree.runtime as rt
import numpy as np

DRIVERS = {"cpu": "local-task", "vulkan": "vulkan", "cuda": "cuda"}
TARGETS = {"cpu": "llvm-cpu", "vulkan": "vulkan-spirv", "cuda": "cuda"}

_configs: dict[str, rt.Config] = {}
_lock = threading.Lock()


def config(platform: str = "cpu") -> rt.Config:
    """The shared runtime config (instance + device) for a platform."""
    with _lock:
        cfg = _configs.get(platform)
        if cfg is None:
            cfg = _configs[platform] = rt.Config(DRIVERS[platform])
        return cfg


class Executable:
    """A compiled module loaded for one device; call it with NumPy arrays or
    device arrays, get device arrays back."""

    def __init__(self, vmfb: bytes, entry: str = "main", platform: str = "cpu"):
        self.platform = platform
        self.config = config(platform)
        self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, vmfb)
        self.context = rt.SystemContext(vm_modules=[self.vm_module], config=self.config)
        self.fn = self.context.modules[self.vm_module.name][entry]

    def __call__(self, *args):
        out = self.fn(*args)
        if out is None:
            return []
        return list(out) if isinstance(out, (tuple, list)) else [out]


def to_device(x: np.ndarray, platform: str = "cpu"):
    return rt.asdevicearray(config(platform).device, np.ascontiguousarray(x))
