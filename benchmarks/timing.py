"""Timing: warm up, then take samples of both libraries in alternation, so a
background load slows both alike; report medians."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)   # seconds per call

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)


def sample(step, calls: int) -> float:
    """Mean seconds per call over `calls` back-to-back calls of `step`."""
    t0 = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - t0) / calls


def compare(steps: dict, calls: int, samples: int, warmup: int = 3) -> dict[str, Timing]:
    """Time each of `steps` (name -> step), alternating names sample by sample.

    >>> t = compare({"a": lambda: None}, calls=10, samples=3)
    >>> len(t["a"].samples)
    3
    """
    for step in steps.values():
        for _ in range(warmup):
            sample(step, calls)
    out = {name: Timing() for name in steps}
    for i in range(samples):
        names = list(steps) if i % 2 == 0 else list(reversed(steps))
        for name in names:
            out[name].samples.append(sample(steps[name], calls))
    return out


def fmt_seconds(s: float) -> str:
    """`fmt_seconds(0.0123)` -> '12.3 ms'."""
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"
