"""Shared pytest set-up: every test starts from NumPy's default print options, so a
test (or a sample it runs) that changes them cannot change what another prints."""

import numpy as np
import pytest

_DEFAULT_PRINT = np.get_printoptions()


@pytest.fixture(autouse=True)
def _default_print_options():
    np.set_printoptions(**_DEFAULT_PRINT)
    yield
    np.set_printoptions(**_DEFAULT_PRINT)
