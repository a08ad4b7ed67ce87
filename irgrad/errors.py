"""irgrad.errors: the exceptions users catch, as jax.errors.

>>> import irgrad
>>> issubclass(irgrad.errors.TracerBoolConversionError, TypeError)
True
"""

from irgrad.frontend.core import (  # noqa: F401
    ConcretizationTypeError,
    NonConcreteBooleanIndexError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)
from irgrad.runtime.errors import IRError, ResourceExhaustedError  # noqa: F401
