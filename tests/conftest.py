"""Shared fixtures: the data root (tests that need it skip with a message), small models, images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lzsc.paths import data_root, official_checkpoint

# Every figure a plotting function of the library returns is checked for axis labels, here and in the
# kernels nbval starts for the notebooks (they inherit this environment): lzsc.plotting.checks.
os.environ.setdefault("LZSC_CHECK_FIGURES", "1")


@pytest.fixture(scope="session")
def lzsc_data() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("LZSC_DATA is not set: real-data test skipped (set it to the data root to run it)")
    return root


@pytest.fixture(scope="session")
def official_path(lzsc_data: Path) -> Path:
    try:
        return official_checkpoint(lzsc_data)
    except FileNotFoundError as err:  # the message names the expected path
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def official_fnet(official_path: Path):
    from lzsc.checkpoints import load_official_fnet

    return load_official_fnet(official_path)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny-tensor tests: faster, and immune to thread-barrier
    stalls on a busy CPU (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
