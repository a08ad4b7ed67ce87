"""irgrad.Array: what users get back. It holds a host NumPy array or a device
buffer; a device buffer is read back only when the host asks for the values."""

from __future__ import annotations

import numpy as np
from irgrad.runtime import executable

from . import devices, dtypes


class ArrayMethods:
    """Operators and methods shared by Array and Tracer (they call irgrad.numpy)."""

    __array_priority__ = 100

    def __add__(self, o): return _np().add(self, o)
    def __radd__(self, o): return _np().add(o, self)
    def __sub__(self, o): return _np().subtract(self, o)
    def __rsub__(self, o): return _np().subtract(o, self)
    def __mul__(self, o): return _np().multiply(self, o)
    def __rmul__(self, o): return _np().multiply(o, self)
    def __truediv__(self, o): return _np().true_divide(self, o)
    def __rtruediv__(self, o): return _np().true_divide(o, self)
    def __floordiv__(self, o): return _np().floor_divide(self, o)
    def __rfloordiv__(self, o): return _np().floor_divide(o, self)
    def __mod__(self, o): return _np().remainder(self, o)
    def __rmod__(self, o): return _np().remainder(o, self)
    def __pow__(self, o): return _np().power(self, o)
    def __rpow__(self, o): return _np().power(o, self)
    def __matmul__(self, o): return _np().matmul(self, o)
    def __rmatmul__(self, o): return _np().matmul(o, self)
    def __neg__(self): return _np().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _np().abs(self)
    def __invert__(self): return _np().invert(self)
    def __and__(self, o): return _np().bitwise_and(self, o)
    def __rand__(self, o): return _np().bitwise_and(o, self)
    def __or__(self, o): return _np().bitwise_or(self, o)
    def __ror__(self, o): return _np().bitwise_or(o, self)
    def __xor__(self, o): return _np().bitwise_xor(self, o)
    def __rxor__(self, o): return _np().bitwise_xor(o, self)
    def __lshift__(self, o): return _np().left_shift(self, o)
    def __rlshift__(self, o): return _np().left_shift(o, self)
    def __rshift__(self, o): return _np().right_shift(self, o)
    def __rrshift__(self, o): return _np().right_shift(o, self)
    def __divmod__(self, o): return _np().floor_divide(self, o), _np().remainder(self, o)
    def __rdivmod__(self, o): return _np().floor_divide(o, self), _np().remainder(o, self)

    def __round__(self, ndigits=None):
        if ndigits is None:     # as JAX: round(x) is an int32 array
            return _np().astype(_np().round(self), np.int32)
        return _np().round(self, ndigits)
    def __eq__(self, o): return _np().equal(self, o)
    def __ne__(self, o): return _np().not_equal(self, o)
    def __lt__(self, o): return _np().less(self, o)
    def __le__(self, o): return _np().less_equal(self, o)
    def __gt__(self, o): return _np().greater(self, o)
    def __ge__(self, o): return _np().greater_equal(self, o)
    def __getitem__(self, idx): return _np()._getitem(self, idx)

    @property
    def T(self): return _np().transpose(self)
    @property
    def mT(self): return _np().swapaxes(self, -1, -2)

    def reshape(self, *shape, order="C"):
        return _np().reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def astype(self, dtype): return _np().astype(self, dtype)
    def transpose(self, *axes):
        if not axes or (len(axes) == 1 and axes[0] is None):
            return _np().transpose(self)
        return _np().transpose(self, tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int) else axes)

    def sum(self, axis=None, keepdims=False, dtype=None): return _np().sum(self, axis, dtype=dtype, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return _np().mean(self, axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _np().max(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _np().min(self, axis, keepdims=keepdims)
    def prod(self, axis=None, keepdims=False): return _np().prod(self, axis, keepdims=keepdims)
    def argmax(self, axis=None): return _np().argmax(self, axis)
    def argmin(self, axis=None): return _np().argmin(self, axis)
    def var(self, axis=None, keepdims=False): return _np().var(self, axis, keepdims=keepdims)
    def std(self, axis=None, keepdims=False): return _np().std(self, axis, keepdims=keepdims)
    def dot(self, o): return _np().dot(self, o)
    def flatten(self): return _np().ravel(self)
    def ravel(self): return _np().ravel(self)
    def squeeze(self, axis=None): return _np().squeeze(self, axis)
    def clip(self, min=None, max=None): return _np().clip(self, min, max)
    def all(self, axis=None, keepdims=False): return _np().all(self, axis, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return _np().any(self, axis, keepdims=keepdims)


def _np():
    from . import numpy_api
    return numpy_api


def _scalar_check(a: np.ndarray) -> np.ndarray:
    if a.ndim:
        raise TypeError(f"Only scalar arrays can be converted to Python scalars; got arr.ndim={a.ndim}")
    return a


class Array(ArrayMethods):
    """An irgrad array. Prints and converts like `jax.Array`.

    >>> import irgrad.numpy as jnp
    >>> jnp.array([1.5, 2.5])
    Array([1.5, 2.5], dtype=float32)
    """

    __slots__ = ("_host_value", "_device", "_dtype", "_shape", "weak_type", "_placement", "_committed")

    def __init__(self, value, weak_type=False, *, device_array=None, dtype=None, shape=None, placement=None,
                 committed=False):
        if device_array is not None:
            self._host_value = None
            self._device = device_array
            self._dtype = np.dtype(dtype)
            self._shape = tuple(shape)
        else:
            value = np.asarray(value)
            canon = dtypes.canonicalize_dtype(value.dtype)
            if value.dtype != canon:
                value = value.astype(canon)
            self._host_value, self._device = value, None
            self._dtype, self._shape = value.dtype, value.shape
        self.weak_type = bool(weak_type)
        # The Device holding `_device` (None: the CPU), or that the values belong to; and
        # whether the user placed it there (JAX's committed arrays; see frontend/devices.py).
        self._placement = placement
        self._committed = committed

    # -- data ------------------------------------------------------------------------
    def _host(self) -> np.ndarray:
        if self._host_value is None:
            self._host_value = executable.to_host(self._device, self._dtype, self._shape)
        return self._host_value

    # -- devices -----------------------------------------------------------------------
    @property
    def device(self):
        """The Device the array lives on (for host values not committed anywhere: the
        default device, where a computation would put them)."""
        if self._placement is not None or self._device is not None:
            return self._where()
        return devices.get_default_device()

    def devices(self) -> set:
        """{self.device}, as jax.Array.devices()."""
        return {self.device}

    @property
    def committed(self) -> bool:
        return self._committed

    def _where(self):
        """The Device holding the buffer, or that the values belong to (host values: the CPU)."""
        if self._placement is None:
            if self._device is None:
                return devices.CPU
            self._placement = devices.holding(self._device)   # made without one (AOT artifacts)
        return self._placement

    def _buffer_on(self, device):
        """This array's buffer on `device`, or None if it has none there. A committed
        array holding host values is uploaded to its device once and keeps the buffer."""
        if self._where() != device:
            return None
        if self._device is None and self._committed and device.platform != "cpu":
            self._device = executable.to_device(self._host_value, device.platform, device.id)
        return self._device

    def _put(self, device, committed: bool) -> Array:
        """This array on `device` (an Array sharing the buffer if it is there already)."""
        buffer = self._buffer_on(device)
        if buffer is not None or device.platform == "cpu":
            out = Array.__new__(Array)
            out._host_value, out._device, out._dtype, out._shape = self._host_value, buffer, self._dtype, self._shape
            if buffer is None and out._host_value is None:
                out._host_value = self._host()
        else:
            out = Array(None, device_array=executable.to_device(self._host(), device.platform, device.id),
                        dtype=self._dtype, shape=self._shape)
        out.weak_type, out._placement, out._committed = self.weak_type, device, committed
        return out

    def block_until_ready(self):
        return self

    @property
    def dtype(self): return self._dtype
    @property
    def shape(self): return self._shape
    @property
    def ndim(self): return len(self._shape)
    @property
    def size(self): return int(np.prod(self._shape, dtype=np.int64))
    @property
    def nbytes(self): return self.size * self._dtype.itemsize
    @property
    def aval(self):
        from .core import ShapedArray
        return ShapedArray(self._shape, self._dtype, self.weak_type)

    # -- conversions -------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        a = self._host()
        return a if dtype is None else a.astype(dtype)

    def __float__(self): return float(_scalar_check(self._host()))
    def __int__(self): return int(_scalar_check(self._host()))
    def __complex__(self): return complex(_scalar_check(self._host()))

    def __index__(self):
        if self._dtype.kind not in "iub":
            raise TypeError("Only integer scalar arrays can be converted to a scalar index.")
        return int(_scalar_check(self._host()))

    def __bool__(self):
        return bool(self._host())   # NumPy's errors for empty and multi-element arrays

    def __len__(self):
        if not self._shape:
            raise TypeError("len() of unsized object")
        return self._shape[0]

    def __iter__(self):
        if not self._shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._shape[0]))

    def __hash__(self):
        raise TypeError("unhashable type: 'Array'")

    def tolist(self): return self._host().tolist()
    def item(self, *args): return self._host().item(*args)
    def copy(self): return Array(self._host().copy(), self.weak_type, placement=self._placement,
                                 committed=self._committed)

    # -- printing ----------------------------------------------------------------------
    def __repr__(self):
        """As jax.Array prints: NumPy's layout, then dtype (and weak_type) on the last line
        if it fits in NumPy's line width, else on a line of its own.

        >>> Array(np.float32(7.0), weak_type=True)
        Array(7., dtype=float32, weak_type=True)
        """
        prefix = "Array("
        dtype_str = f"dtype={self._dtype.name}" + (", weak_type=True" if self.weak_type else "")
        line_width = np.get_printoptions()["linewidth"]
        if self.size == 0:
            body = f"[], shape={self._shape}"
        else:
            body = np.array2string(self._host(), prefix=prefix, suffix=",", separator=", ",
                                   max_line_width=line_width)
        last_line_len = len(body) - body.rfind("\n") + 1
        sep = " " * len(prefix) if last_line_len + len(dtype_str) + 2 > line_width else " "
        return f"{prefix}{body},{sep}{dtype_str})"

    def __str__(self):
        return str(self._host())

    def __format__(self, spec):
        """`f"{x:.4f}"` formats a 0-d array like its NumPy scalar, as JAX does."""
        a = self._host()
        return format(a if a.ndim else a[()], spec)
