"""irgrad.random: JAX's random numbers (threefry2x32), bit for bit, eagerly and inside jit."""

from irgrad.frontend.random import (
    PRNGKey,
    bernoulli,
    bits,
    choice,
    fold_in,
    gumbel,
    key,
    key_data,
    normal,
    permutation,
    randint,
    split,
    uniform,
    wrap_key_data,
)

__all__ = ["PRNGKey", "bernoulli", "bits", "choice", "fold_in", "gumbel", "key", "key_data", "normal",
           "permutation", "randint", "split", "uniform", "wrap_key_data"]
