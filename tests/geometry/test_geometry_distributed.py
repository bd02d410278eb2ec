import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ncsweep.geometry import ClassStats, NCCAgreement, collapse_metrics

K, D, WORLD = 5, 8, 2


def _data():
    gen = torch.Generator().manual_seed(11)
    y = torch.randint(0, K, (300,), generator=gen)
    h = 2 * torch.randn(K, D, generator=gen)[y] + torch.randn(300, D, generator=gen)
    w = torch.randn(K, D, generator=gen)
    return h, y, w


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, port, out_path):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        h, y, w = _data()
        stats = ClassStats(K, D).update(h[rank::WORLD], y[rank::WORLD]).all_reduce()
        agreement = NCCAgreement(stats).update(h[rank::WORLD], y[rank::WORLD], h[rank::WORLD] @ w.T)
        agreement.all_reduce()
        if rank == 0:
            torch.save(dict(collapse_metrics(stats, w, agreement)), out_path)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned ranks, each a fresh interpreter importing torch
def test_two_process_gloo_all_reduce_equals_one_process(tmp_path):
    out = tmp_path / "metrics.pt"
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    got = torch.load(out, weights_only=True)
    h, y, w = _data()
    stats = ClassStats(K, D).update(h, y)
    agreement = NCCAgreement(stats).update(h, y, h @ w.T)
    want = collapse_metrics(stats, w, agreement)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-10), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    h, y, w = _data()
    cpu = collapse_metrics(ClassStats(K, D).update(h, y), w)
    gpu_stats = ClassStats(K, D).update(h.cuda(), y.cuda())
    assert gpu_stats.device.type == "cuda"
    gpu = collapse_metrics(gpu_stats, w.cuda())
    for name in cpu:
        assert gpu[name] == pytest.approx(cpu[name], rel=1e-9), name
