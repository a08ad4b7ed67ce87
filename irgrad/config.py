"""irgrad.config: `irgrad.config.update(name, value)`, as jax.config."""

from irgrad.frontend.config import config

update = config.update
read = config.read

__all__ = ["config", "update", "read"]


def __getattr__(name):
    return getattr(config, name)
