"""Shared pytest set-up: every test starts from NumPy's default print options, so a
test (or a sample it runs) that changes them cannot change what another prints; and
the on-disk compile cache and its key's config directory are temporary directories for
the session (shared by the xdist workers, which inherit them), never the user's."""

import os
import shutil
import tempfile

import numpy as np
import pytest

_DEFAULT_PRINT = np.get_printoptions()


@pytest.fixture(autouse=True)
def _default_print_options():
    np.set_printoptions(**_DEFAULT_PRINT)
    yield
    np.set_printoptions(**_DEFAULT_PRINT)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):     # the controller (or a run without xdist)
        config._irgrad_cache = os.environ["IRGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="irgrad-test-cache-")
        config._irgrad_config = os.environ["IRGRAD_CONFIG_DIR"] = tempfile.mkdtemp(prefix="irgrad-test-config-")


def pytest_unconfigure(config):
    for d in (getattr(config, "_irgrad_cache", None), getattr(config, "_irgrad_config", None)):
        if d:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def vulkan():
    """The first Vulkan device; skipped with the reason when IREE finds none, except under
    CI=true, where that fails (`.ci/run` installs mesa-vulkan-drivers)."""
    import irgrad  # not at import: the cache directories above are set first
    try:
        return irgrad.devices("vulkan")[0]
    except RuntimeError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires a Vulkan device (.ci/run installs mesa-vulkan-drivers): {e}")
        pytest.skip(f"no Vulkan device: {e}")
