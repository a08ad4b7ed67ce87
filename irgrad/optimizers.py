"""irgrad.optimizers: optax-style gradient transformations (sgd, momentum, adam) and apply_updates."""

from irgrad.frontend.optimizers import *  # noqa: F401,F403
from irgrad.frontend.optimizers import __all__  # noqa: F401
