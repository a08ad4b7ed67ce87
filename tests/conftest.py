"""Shared pytest set-up: every test starts from NumPy's default print options, so a
test (or a sample it runs) that changes them cannot change what another prints; and
the on-disk compile cache and its key's config directory are temporary directories for
the session (shared by the xdist workers, which inherit them), never the user's.

Under xdist (`-n 2`), tests are distributed by file (`--dist loadfile`) unless `--dist` is
given: most files build their compiled functions in module-scoped fixtures or caches, and
with `--dist load` both workers ran tests of the same file at once, so both built (and
IREE-compiled) the same modules. The files that make a Vulkan device in the test process
(VULKAN_FILES) go out as one unit (`VulkanAsOneFile`), so only one worker has one: a
lavapipe device keeps polling threads busy for its process's whole life
(runtime/executable.py), ~60 CPU-s a thread in a full run, and `check_vulkan_files` fails a
test outside that unit that makes one. (Not `--dist loadgroup`: under pytest 9.2, xdist
3.8's groups silently fall back to per-test distribution.) Files go out heaviest first
(HEAVY_FIRST), so the last one a worker picks up is short and the two workers finish
together."""

import os
import shutil
import tempfile

import numpy as np
import pytest

_DEFAULT_PRINT = np.get_printoptions()

# Test files by CPU time measured with a cold compile cache (`pytest -n 1 --durations`),
# heaviest first; files not listed follow in their usual order. Only the order changes.
HEAVY_FIRST = [
    "test_vulkan_differential.py", "test_long_reductions.py", "test_devices.py", "test_generic_forms.py",
    "test_export.py", "test_samples.py", "test_primitives.py", "test_transforms.py", "test_index_semantics.py",
    "test_reverse_pass.py", "test_bad_input_samples.py",
    "test_forward_pass.py", "test_check_grads.py", "test_random_programs.py", "test_random_bits.py",
    "test_dtype_sweep.py", "test_compile_cache.py", "test_custom_rules.py", "test_control_flow.py",
    "test_api.py", "test_seeds.py", "test_batching_pass.py", "test_random_jit.py",
    "test_product_reductions.py", "test_power_derivatives.py",
]
# The files whose tests make a Vulkan device in the test process: one unit for xdist.
VULKAN_FILES = {"test_vulkan_differential.py", "test_long_reductions.py", "test_devices.py", "test_generic_forms.py",
                "test_export.py", "test_samples.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "no":
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False     # keep HEAVY_FIRST's order (see below)


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: order within a file kept


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with VULKAN_FILES sent to one worker as if they were one file."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class VulkanAsOneFile(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "<vulkan files>" if os.path.basename(path) in VULKAN_FILES else path

    return VulkanAsOneFile(config, log)


@pytest.fixture(autouse=True)
def check_vulkan_files(request):
    """Fails a test outside VULKAN_FILES that makes the process's first Vulkan device."""
    from irgrad.runtime import executable
    had = executable.has_device("vulkan")
    yield
    if not had and executable.has_device("vulkan") and request.path.name not in VULKAN_FILES:
        pytest.fail(f"{request.path.name} made a Vulkan device in the test process: add it to conftest's "
                    "VULKAN_FILES (one xdist worker runs them all)")


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
