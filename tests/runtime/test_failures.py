"""Which failures a sweep retries (infrastructure) and which it records for good."""

from __future__ import annotations

import pytest
import torch
import torch.distributed
from ray.exceptions import RayTaskError

from ncsweep.runtime.failures import is_infrastructure
from ncsweep.train.checkpoint import IncompleteCheckpoint


@pytest.mark.parametrize(
    "err",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        torch.distributed.DistBackendError(
            "NCCL error: remote process exited or there was a network error"
        ),
        IncompleteCheckpoint("checkpoint_000002/state.pt is missing"),
    ],
    ids=["cuda-oom", "dist-backend", "incomplete-checkpoint"],
)
def test_shared_gpu_oom_network_flap_and_lost_checkpoint_are_retried(err):
    assert is_infrastructure(err)
    # as the driver sees it: raised in a Ray worker, wrapped by Ray
    assert is_infrastructure(RayTaskError("train_loop", "Traceback ...", err))


@pytest.mark.parametrize(
    "err",
    [
        RuntimeError("non-finite loss at step 12"),
        ValueError("batch size larger than the dataset"),
        torch.distributed.DistError("mismatched collective: all_reduce vs broadcast"),
        FileNotFoundError("spec.yaml"),
    ],
    ids=["non-finite", "bad-spec", "dist-misuse", "missing-file"],
)
def test_the_runs_own_failures_stay_deterministic(err):
    assert not is_infrastructure(err)
