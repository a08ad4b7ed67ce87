"""irgrad.numpy: a jax.numpy work-alike (see irgrad.frontend.numpy_api)."""

from irgrad.frontend.numpy_api import *  # noqa: F401,F403
from irgrad.frontend.numpy_api import __all__  # noqa: F401
