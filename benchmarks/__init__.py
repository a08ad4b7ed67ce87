"""irgrad vs JAX timings on CPU: `python -m benchmarks --help`."""
