"""A 2-rank gloo group reproduces the single-process losses on the concatenated batch.

Convention checked (see ``NTCELoss``): the mean over ranks of the per-rank losses and of
the per-rank prototype gradients (what DDP averages) equal the single-process values; the
gradient a rank sees on its own features equals ``WORLD`` times the single-process
gradient on those rows, which DDP's averaging of backbone gradients divides back out.
Each configuration runs two steps so that the memory holds the first gathered batch.
"""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ncsweep.losses import create_loss

pytestmark = pytest.mark.slow  # two spawned ranks, each a fresh interpreter importing torch

WORLD, LOCAL_B, D, K, STEPS = 2, 5, 4, 3, 2
CONFIGS = [
    ("ntce", {}),
    ("ntce", {"memory": 7}),
    ("nonl", {"anchor": "prototype"}),
    ("nonl", {"anchor": "instance"}),
    ("nonl", {"anchor": "bidirectional", "align_weight": 0.5, "memory": 7}),
    ("scl", {}),
    ("scl", {"memory": 7}),
]


def global_inputs(config: int, step: int):
    """The concatenated batch of both ranks (rank r holds rows r·LOCAL_B …)."""
    g = torch.Generator().manual_seed(100 * config + step)
    views = (2,) if CONFIGS[config][0] == "scl" else ()
    features = torch.randn(WORLD * LOCAL_B, *views, D, generator=g, dtype=torch.float64)
    labels = torch.randint(K, (WORLD * LOCAL_B,), generator=g)
    prototypes = torch.randn(K, D, generator=g, dtype=torch.float64)
    return features, labels, prototypes


def run_steps(config: int, part: slice) -> list[dict[str, torch.Tensor]]:
    """Loss and gradients of each step, on the rows ``part`` of the global batch."""
    name, options = CONFIGS[config]
    loss, results = create_loss(name, temperature=0.3, **options), []
    for step in range(STEPS):
        features, labels, prototypes = global_inputs(config, step)
        features = features[part].clone().requires_grad_()
        prototypes.requires_grad_()
        args = (prototypes,) if loss.uses_prototypes else ()
        value = loss(features, labels[part], *args)
        value.backward()
        results.append(
            {
                "loss": value.detach(),
                "features": features.grad,
                "prototypes": prototypes.grad if loss.uses_prototypes else None,
            }
        )
    return results


def worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        part = slice(rank * LOCAL_B, (rank + 1) * LOCAL_B)
        torch.save([run_steps(c, part) for c in range(len(CONFIGS))], f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def per_rank(tmp_path_factory):
    out = tmp_path_factory.mktemp("gloo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(port, str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.mark.parametrize("config", range(len(CONFIGS)), ids=[f"{n}-{o}" for n, o in CONFIGS])
def test_two_rank_gather_equals_single_process_on_concatenated_batch(per_rank, config):
    assert not dist.is_initialized()
    single = run_steps(config, slice(None))
    for step in range(STEPS):
        ranks = [per_rank[r][config][step] for r in range(WORLD)]
        mean_loss = sum(r["loss"] for r in ranks) / WORLD
        torch.testing.assert_close(mean_loss, single[step]["loss"], rtol=0, atol=1e-10)
        for r in range(WORLD):
            own_rows = single[step]["features"][r * LOCAL_B : (r + 1) * LOCAL_B]
            torch.testing.assert_close(ranks[r]["features"], WORLD * own_rows, rtol=0, atol=1e-10)
        if single[step]["prototypes"] is not None:
            mean_grad = sum(r["prototypes"] for r in ranks) / WORLD
            torch.testing.assert_close(mean_grad, single[step]["prototypes"], rtol=0, atol=1e-10)


def test_gathered_loss_differs_from_the_local_only_loss(per_rank):
    """Guards the test itself: the gathered losses must differ from purely local ones."""
    local = run_steps(0, slice(0, LOCAL_B))
    assert abs(float(local[0]["loss"]) - float(per_rank[0][0][0]["loss"])) > 1e-6
