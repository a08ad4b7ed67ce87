"""JAX-compatible dtype canonicalization and type promotion (64-bit mode disabled).

This module reproduces the behaviour of ``jax._src.dtypes`` with JAX's default
``jax_enable_x64=False``:

* 64-bit dtypes are canonicalized to their 32-bit counterparts
  (``float64 -> float32``, ``int64 -> int32``, ``uint64 -> uint32``).
* Values carry a ``weak_type`` flag.  Python scalars are weakly typed: they take
  part in promotion only by *kind* (bool / int / float) and defer to the width
  of strongly-typed operands, e.g. ``int8_array + 1 -> int8``.
* Binary promotion is the least upper bound on JAX's promotion lattice
  (:data:`_LATTICE`), computed exactly like ``jax._src.dtypes._least_upper_bound``.

Supported dtypes: ``bool``, ``int8/16/32/64``, ``uint8/16/32/64``, ``float16``,
``float32``, ``float64``.  Complex dtypes, ``bfloat16`` and every other dtype
are rejected with :class:`TypeError` (the irgrad backend does not support them).

Only ``numpy`` and the standard library are imported.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = [
    "canonicalize_dtype",
    "convert",
    "default_float",
    "default_int",
    "default_uint",
    "dtype_and_weak",
    "float_result",
    "is_bool",
    "is_float",
    "is_int",
    "result_type",
]

default_float = np.float32
default_int = np.int32
default_uint = np.uint32

_BOOL = np.dtype(np.bool_)
_INT32 = np.dtype(np.int32)
_UINT32 = np.dtype(np.uint32)
_FLOAT32 = np.dtype(np.float32)

#: 64-bit -> 32-bit canonicalization applied when x64 mode is disabled.
_TO_32BIT = {
    np.dtype(np.int64): np.dtype(np.int32),
    np.dtype(np.uint64): np.dtype(np.uint32),
    np.dtype(np.float64): np.dtype(np.float32),
}

_SUPPORTED = frozenset(
    np.dtype(t)
    for t in (
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
    )
)

# ---------------------------------------------------------------------------
# The promotion lattice.
#
# Nodes are short names: "b1" (bool), "i8".."i64", "u8".."u64", "f16".."f64",
# and the weak nodes "i*" (weak int: Python int) and "f*" (weak float: Python
# float).  Each node maps to its *immediate* successors.  This is JAX's
# non-strict lattice (``_type_promotion_lattice(strict=False, x64=False)``)
# restricted to the supported dtypes; in x32 mode JAX replaces the edge
# ``u32 -> i64`` by ``u32 -> i32`` so that no 64-bit type is formed from 32-bit
# inputs (hence ``uint32 + int32 -> int32``).
# ---------------------------------------------------------------------------
_LATTICE: dict[str, tuple[str, ...]] = {
    "b1": ("i*",),
    "i*": ("u8", "i8"),
    "u8": ("i16", "u16"),
    "u16": ("i32", "u32"),
    "u32": ("i32", "u64"),  # x32 mode; with x64 enabled JAX uses ("i64", "u64")
    "u64": ("f*",),
    "i8": ("i16",),
    "i16": ("i32",),
    "i32": ("i64",),
    "i64": ("f*",),
    "f*": ("f16",),  # JAX also has bf16 and 8-bit floats here, and f* -> c*
    "f16": ("f32",),
    "f32": ("f64",),  # JAX also has f32 -> c64
    "f64": (),
}

_WEAK_NODES = frozenset({"i*", "f*"})

_NODE_TO_DTYPE: dict[str, np.dtype] = {
    "b1": _BOOL,
    "i*": _INT32,
    "f*": _FLOAT32,
    **{f"i{n}": np.dtype(f"int{n}") for n in (8, 16, 32, 64)},
    **{f"u{n}": np.dtype(f"uint{n}") for n in (8, 16, 32, 64)},
    **{f"f{n}": np.dtype(f"float{n}") for n in (16, 32, 64)},
}
_DTYPE_TO_NODE: dict[np.dtype, str] = {
    dt: node for node, dt in _NODE_TO_DTYPE.items() if node not in _WEAK_NODES
}


def _upper_bounds(lattice: dict[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    """Reflexive-transitive closure of the lattice edges: node -> all nodes >= it."""
    out: dict[str, frozenset[str]] = {}
    for start in lattice:
        seen = {start}
        stack = [start]
        while stack:
            for succ in lattice[stack.pop()]:
                if succ == start:
                    raise ValueError(f"cycle in type promotion lattice at {start!r}")
                if succ not in seen:
                    seen.add(succ)
                    stack.append(succ)
        out[start] = frozenset(seen)
    return out


_UB = _upper_bounds(_LATTICE)


@functools.cache
def _least_upper_bound(*nodes: str) -> str:
    """Least upper bound of ``nodes`` on :data:`_LATTICE` (same algorithm as JAX)."""
    n = frozenset(nodes)
    cub = frozenset.intersection(*(_UB[x] for x in n))
    lub = (cub & n) or {c for c in cub if cub <= _UB[c]}
    if len(lub) != 1:  # pragma: no cover - the lattice above is well formed
        raise TypeError(f"no unique least upper bound for {sorted(n)}: {sorted(lub)}")
    return next(iter(lub))


def _node(dt: np.dtype, weak: bool) -> str:
    """The lattice node of a (canonical) dtype with a weak-type flag."""
    if weak and dt.kind in "iu":
        return "i*"
    if weak and dt.kind == "f":
        return "f*"
    return _DTYPE_TO_NODE[dt]  # weak bool is treated like strong bool, as in JAX


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def canonicalize_dtype(dtype: Any) -> np.dtype:
    """Return the canonical (x64-disabled) numpy dtype for ``dtype``.

    64-bit types are narrowed to 32 bits; other supported dtypes are returned
    unchanged.  Anything ``np.dtype`` accepts may be passed (``np.float64``,
    ``"int64"``, ``float``, ...).  Complex, bfloat16 and non-numeric dtypes raise
    :class:`TypeError`.

    >>> canonicalize_dtype(np.float64)
    dtype('float32')
    >>> canonicalize_dtype("uint8")
    dtype('uint8')
    >>> canonicalize_dtype(int)
    dtype('int32')
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype {dtype!r} not understood") from err
    if dt not in _SUPPORTED:
        if dt.kind == "c":
            raise TypeError(f"complex dtype {dt} is not supported by irgrad")
        raise TypeError(
            f"dtype {dt} is not supported by irgrad; supported dtypes are bool, "
            "int8/16/32/64, uint8/16/32/64, float16/32/64"
        )
    return _TO_32BIT.get(dt, dt)


def dtype_and_weak(x: Any) -> tuple[np.dtype, bool]:
    """Return ``(canonical dtype, weak_type)`` for a value, the way JAX sees it.

    * Python ``bool`` -> ``(bool, False)``; ``int`` -> ``(int32, True)``;
      ``float`` -> ``(float32, True)``.  The Python *types* ``bool``/``int``/
      ``float`` are treated like their values (as ``jnp.result_type`` does).
    * numpy scalars and arrays -> canonicalized dtype, strong.  (``np.float64(1)``
      is a strong float32 even though it subclasses ``float``.)
    * ``np.dtype`` objects, numpy scalar types and dtype strings -> canonical, strong.
    * any other object with ``.dtype`` (JAX arrays, tracers, irgrad values):
      its canonicalized dtype, and its ``.weak_type`` attribute (or
      ``.aval.weak_type``) if present, otherwise strong.

    >>> dtype_and_weak(3)
    (dtype('int32'), True)
    >>> dtype_and_weak(np.arange(3))
    (dtype('int32'), False)
    >>> dtype_and_weak(np.float16(1.0))
    (dtype('float16'), False)
    """
    if isinstance(x, (np.ndarray, np.generic)):
        return canonicalize_dtype(x.dtype), False
    if isinstance(x, bool):
        return _BOOL, False
    if isinstance(x, int):
        return _INT32, True
    if isinstance(x, float):
        return _FLOAT32, True
    if isinstance(x, complex):
        raise TypeError(f"complex value {x!r} is not supported by irgrad")
    if x is bool:
        return _BOOL, False
    if x is int:
        return _INT32, True
    if x is float:
        return _FLOAT32, True
    if isinstance(x, (np.dtype, str)) or (isinstance(x, type) and issubclass(x, np.generic)):
        return canonicalize_dtype(x), False
    dt = getattr(x, "dtype", None)
    if dt is None:
        raise TypeError(f"cannot determine the dtype of {x!r} (type {type(x).__name__})")
    weak = getattr(x, "weak_type", None)
    if weak is None:
        weak = getattr(getattr(x, "aval", None), "weak_type", False)
    return canonicalize_dtype(dt), bool(weak)


def result_type(*dtype_weak_pairs: tuple[Any, bool], normalize_weak: bool = False) -> tuple[np.dtype, bool]:
    """Promote ``(dtype, weak_type)`` pairs exactly as JAX's binary/n-ary ops do.

    Input dtypes are canonicalized first, then combined with the least upper
    bound on JAX's promotion lattice (``jax._src.dtypes.lattice_result_type``).
    The result is what e.g. ``jnp.add(a, b)`` produces.  A result is weak only
    if the lattice join is a weak node, or if *all* inputs are weak; ``bool``
    results are never weak.

    When every input is weak the result keeps the joined width, e.g. two weak
    ``int8`` values add to a weak ``int8`` (this is what ``jnp.add`` does).
    ``jnp.result_type`` / ``jax.dtypes.result_type`` instead report a weak result
    as the default dtype of its kind (int32, uint32 or float32); pass
    ``normalize_weak=True`` to get that behaviour.

    >>> result_type((np.int32, True), (np.float32, True))     # 1 + 1.0
    (dtype('float32'), True)
    >>> result_type((np.int32, False), (np.float32, True))    # int32 array + 1.0
    (dtype('float32'), True)
    >>> result_type((np.float16, False), (np.float32, True))  # float16 array + 1.0
    (dtype('float16'), False)
    >>> result_type((np.uint8, False), (np.int8, False))
    (dtype('int16'), False)
    >>> result_type((np.int32, False), (np.uint32, False))    # int64 in x64 mode
    (dtype('int32'), False)
    >>> result_type((np.int8, True), (np.int8, True))
    (dtype('int8'), True)
    >>> result_type((np.int8, True), (np.int8, True), normalize_weak=True)
    (dtype('int32'), True)
    """
    if not dtype_weak_pairs:
        raise ValueError("result_type needs at least one (dtype, weak_type) pair")
    dts: list[np.dtype] = []
    weaks: list[bool] = []
    for pair in dtype_weak_pairs:
        try:
            dt, weak = pair
        except (TypeError, ValueError) as err:
            raise TypeError(f"expected a (dtype, weak_type) pair, got {pair!r}") from err
        dts.append(canonicalize_dtype(dt))
        weaks.append(bool(weak))

    if len(dts) == 1:
        out, out_weak = dts[0], weaks[0]
    elif len(set(dts)) == 1 and not all(weaks):
        out, out_weak = dts[0], False
    elif all(weaks):
        # JAX joins the strong counterparts and re-applies the weak flag.
        out, out_weak = _NODE_TO_DTYPE[_least_upper_bound(*(_node(d, False) for d in dts))], True
    else:
        node = _least_upper_bound(*(_node(d, w) for d, w in zip(dts, weaks, strict=True)))
        out, out_weak = _NODE_TO_DTYPE[node], node in _WEAK_NODES
    out = canonicalize_dtype(out)
    out_weak = out_weak and out != _BOOL
    if normalize_weak and out_weak:
        out = {"i": _INT32, "u": _UINT32, "f": _FLOAT32}[out.kind]
    return out, out_weak


def is_float(dtype: Any) -> bool:
    """True for floating-point dtypes.

    >>> is_float(np.float16), is_float("int32"), is_float(float)
    (True, False, True)
    """
    return np.dtype(dtype).kind == "f"


def is_int(dtype: Any) -> bool:
    """True for signed or unsigned integer dtypes (not bool).

    >>> is_int(np.uint8), is_int(np.int64), is_int(np.bool_)
    (True, True, False)
    """
    return np.dtype(dtype).kind in "iu"


def is_bool(dtype: Any) -> bool:
    """True for the boolean dtype.

    >>> is_bool(np.bool_), is_bool(bool), is_bool(np.int8)
    (True, True, False)
    """
    return np.dtype(dtype).kind == "b"


def float_result(dtype: Any, weak: bool, *, reduction: bool = False) -> tuple[np.dtype, bool]:
    """Result ``(dtype, weak_type)`` of an op that always returns floats.

    Matches JAX's ``promote_args_inexact`` / ``to_inexact_dtype``: bool and every
    integer dtype (even ``int8``) become ``float32``; float dtypes are kept
    (``float16`` stays ``float16``).  Element-wise ops such as ``jnp.sqrt``,
    ``jnp.exp`` or true division keep the weak flag (bool is never weak).
    Reductions such as ``jnp.mean`` always return a strong result: pass
    ``reduction=True``.  For a multi-operand op, promote with
    :func:`result_type` first and pass its result here.

    >>> float_result(np.int32, True)                    # jnp.sqrt(2)
    (dtype('float32'), True)
    >>> float_result(np.int8, False)                    # jnp.sqrt(int8 array)
    (dtype('float32'), False)
    >>> float_result(np.float16, False)
    (dtype('float16'), False)
    >>> float_result(np.float32, True, reduction=True)  # jnp.mean(1.0)
    (dtype('float32'), False)
    """
    dt = canonicalize_dtype(dtype)
    out = dt if dt.kind == "f" else _FLOAT32
    return out, bool(weak) and dt != _BOOL and not reduction


def convert(x: Any, dtype: Any) -> np.ndarray:
    """``x`` converted to ``dtype`` with XLA's semantics (``lax.convert_element_type``).

    Floats become integers by truncation toward zero, saturating at the integer type's
    range, with NaN -> 0 (NumPy's ``astype`` leaves these undefined: INT_MIN on x86-64).
    Everything else is ``astype``: integers wrap, ``bool`` is ``x != 0`` (NaN -> True).

    >>> convert(np.float32([np.nan, np.inf, -1e10, 2.7, -2.7]), np.int32)
    array([          0,  2147483647, -2147483648,           2,          -2], dtype=int32)
    >>> convert(np.float32([-1.0, 300.0]), np.uint8)
    array([  0, 255], dtype=uint8)
    """
    x = np.asarray(x)
    dt = np.dtype(dtype)
    if x.dtype.kind != "f" or dt.kind not in "iu":
        return x.astype(dt)
    info = np.iinfo(dt)
    wide = x.astype(np.float64)   # exact for every float16/32 value and every int32 bound
    with np.errstate(invalid="ignore"):
        clipped = np.clip(np.where(np.isnan(wide), 0.0, wide), float(info.min), float(info.max))
    return np.trunc(clipped).astype(dt)
