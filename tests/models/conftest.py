"""Model tests run torch single-threaded: on a shared 2-core machine, intra-op threads
contend with other processes and make small forward/backward passes ~10× slower."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
