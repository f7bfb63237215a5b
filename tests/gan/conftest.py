"""Fixtures shared by the GAN tests."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Tiny networks: one thread is faster than several on a shared CPU (as `gan score --threads 1`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
