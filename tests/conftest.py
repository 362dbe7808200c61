"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def torch_one_thread():
    """Run a test of tiny torch models on one intra-op thread, restoring the setting after.

    One thread is faster than fighting for a small shared machine's cores.
    """
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
