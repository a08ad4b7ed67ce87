"""irgrad.lax: stop_gradient (the lax functions autodiff code uses)."""

from irgrad.frontend.lax import *  # noqa: F401,F403
from irgrad.frontend.lax import __all__  # noqa: F401
