"""irgrad.config: the JAX configuration options irgrad honours.

>>> from irgrad import config
>>> config.update("jax_threefry_partitionable", False)   # JAX's pre-0.5 random streams
>>> config.jax_threefry_partitionable
False
"""

from __future__ import annotations

from typing import Any

_DEFAULTS = {
    # True since JAX 0.5: how threefry counters are laid out (changes the random streams).
    "jax_threefry_partitionable": True,
    # 64-bit mode is not available: IREE demotes f64 on most targets, and Vulkan and the CPU
    # cannot run some float64 math (README.md, "Devices"; runtime/backends.py).
    "jax_enable_x64": False,
    # irgrad's own: derivatives where a zero (co)tangent times an inf / NaN partial gives
    # 0, not NaN (Enzyme's "strong zero"): gradients through `where` whose untaken
    # branch is inf or NaN stay finite. Off by default, so numbers match JAX.
    "irgrad_strong_zero": False,
}


class Config:
    def __init__(self) -> None:
        self._values = dict(_DEFAULTS)

    def update(self, name: str, value: Any) -> None:
        """Set option `name`, as `jax.config.update`."""
        if name not in self._values:
            raise AttributeError(f"Unrecognized config option: {name}")
        if name == "jax_enable_x64" and value:
            raise NotImplementedError("irgrad runs with jax_enable_x64=False (float32 / int32), as JAX's default")
        self._values[name] = bool(value)

    def __getattr__(self, name: str) -> bool:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def read(self, name: str) -> bool:
        return self._values[name]


config = Config()
