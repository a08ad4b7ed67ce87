"""irgrad.random: JAX's random numbers (threefry2x32), bit for bit."""

from irgrad.frontend.random import (  # noqa: F401
    PRNGKey, bernoulli, bits, choice, fold_in, gumbel, key, key_data, normal, permutation, randint, split,
    uniform, wrap_key_data,
)
