"""Running a compiled computation, with IREE's out-of-memory error explained.

IREE reports a failed allocation as `RESOURCE_EXHAUSTED; libc allocator failed the request`,
without saying what was being allocated. `run` re-raises it as ResourceExhaustedError
naming the computation, its largest output and the bytes its outputs need.
"""

from __future__ import annotations

import numpy as np
from irgrad.runtime.errors import ResourceExhaustedError


def nbytes_text(n: int) -> str:
    """A byte count for people.

    >>> nbytes_text(40_000_000_000)
    '37.3 GiB (40000000000 bytes)'
    """
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit} ({n} bytes)"
    return f"{n} bytes"


def explain_oom(what: str, device, out_avals, out_paths, iree_message: str) -> str:
    """The message for a computation that ran out of memory."""
    sizes = [int(np.prod(a.shape, dtype=np.int64)) * np.dtype(a.dtype).itemsize for a in out_avals]
    total = sum(sizes)
    text = f"RESOURCE_EXHAUSTED: out of memory running {what} on {device}"
    if sizes:
        i = int(np.argmax(sizes))
        shape = ",".join(map(str, out_avals[i].shape))
        text += (f": its outputs need {nbytes_text(total)}; the largest is {out_paths[i]}, "
                 f"{np.dtype(out_avals[i].dtype).name}[{shape}], {nbytes_text(sizes[i])}")
    first = iree_message.strip().splitlines()[0] if iree_message.strip() else ""
    return text + f"; use smaller arrays (or batches) or free device memory. IREE: {first}"


def run(call, inputs, what: str, device, out_avals, out_tree):
    """`call(*inputs)`; IREE's out-of-memory error becomes a ResourceExhaustedError naming the outputs."""
    try:
        return call(*inputs)
    except RuntimeError as e:
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        from .tree_util import leaf_paths
        paths = list(leaf_paths(out_tree, "out"))
        raise ResourceExhaustedError(explain_oom(what, device, out_avals, paths, str(e))) from None
