"""GPU checks of ``data.augment_on=device`` and the run's acceleration options (issue 18),
for a machine with an NVIDIA GPU (not part of ``make test``). Written on a CPU-only machine:
not run there. Run from the repository root::

    .venv/bin/python tests/gpu/device_augment_check.py

1. **Resume**: digits SCL (two views augmented on ``cuda:0`` with the core's CUDA generator),
   12 steps straight vs 5 steps, ``state_dict``, a fresh core, 7 more: the parameters must
   be equal (max abs difference printed; cuBLAS may reorder sums, so equal up to 1e-6).
2. **Pipeline throughput**: SCL's two-view CIFAR pipeline on 512 uint8 3×32×32 images on
   the GPU, images/s (synchronised).
3. **channels_last + bf16 + compile**: ``convnet`` on digits for 20 steps with
   ``run.compile=true`` and the defaults (channels_last, bf16 autocast on CUDA): finite loss.

Exit code 0 when all passed, 1 when one failed, 2 without a GPU.
"""

from __future__ import annotations

import sys
import time

import torch

from ncsweep.config import load_spec
from ncsweep.data.augment import BatchPipeline
from ncsweep.data.transforms import CIFAR10_STATS, cifar_transforms
from ncsweep.train import TrainingCore
from ncsweep.train.distributed import unwrap


def _train(core: TrainingCore, steps: int) -> float:
    loss = torch.zeros(())
    for x, y in core.batches():
        loss = core.train_step(x, y)
        if core.step == steps:
            break
    return float(loss)


def resume() -> bool:
    spec = load_spec(None, ["loss.name=scl", "run.batch_size=64", "data.augment_on=device"])
    straight = TrainingCore(spec, device="cuda")
    _train(straight, 12)
    first = TrainingCore(spec, device="cuda")
    _train(first, 5)
    resumed = TrainingCore(spec, device="cuda")
    resumed.load_state_dict(first.state_dict())
    _train(resumed, 12)
    a, b = unwrap(straight.model).state_dict(), unwrap(resumed.model).state_dict()
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f"resume: max |param difference| {diff:.3g}")
    return diff <= 1e-6


def throughput() -> bool:
    pipe = BatchPipeline.from_torchvision(cifar_transforms(CIFAR10_STATS, views=2, augment=True)[0])
    x = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    pipe(x, gen)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        out = pipe(x, gen)
    torch.cuda.synchronize()
    print(f"pipeline: SCL two views {20 * 512 / (time.perf_counter() - start):,.0f} images/s")
    return bool(torch.isfinite(out).all())


def accelerated() -> bool:
    spec = load_spec(None, ["model.name=convnet", "run.compile=true", "run.batch_size=128"])
    core = TrainingCore(spec, device="cuda")
    loss = _train(core, 20)
    print(f"convnet, channels_last={core.memory_format}, compiled: loss {loss:.4f}")
    return core.memory_format == torch.channels_last and loss == loss


def main() -> int:
    if not torch.cuda.is_available():
        print("no GPU")
        return 2
    results = {check.__name__: check() for check in (resume, throughput, accelerated)}
    print(results)
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
