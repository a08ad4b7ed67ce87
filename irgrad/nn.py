"""irgrad.nn: jax.nn's activations and normalisers (relu, sigmoid, softplus, softmax, log_softmax, logsumexp, ...)."""

from irgrad.frontend.nn import *  # noqa: F401,F403
from irgrad.frontend.nn import __all__  # noqa: F401
