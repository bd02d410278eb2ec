"""Benchmark: per-sample torchvision augmentation vs batched ops vs ``BatchPipeline``, one core.

Usage: ``python tests/bench/bench_augment.py [--n N] [--batch B] [--repeat R]`` (not
collected by pytest). Synthetic CIFAR-size uint8 images, ``torch.set_num_threads(1)``.

Old path, as training uses it today: ``ImageArrayDataset`` (N×32×32×3 uint8, PIL per sample)
with ``cifar_transforms``'s train transform, through a ``DataLoader(num_workers=0)``.
New paths: the same transform as ``BatchPipeline.from_torchvision``, on uint8 N×3×32×32
batches gathered by random index (what ``TensorImageDataset.batch`` does), one generator:
"ops" runs its batched ops one after another (``run_ops``, what CUDA runs), "pipeline" is
what a CPU trial runs (``FusedPipeline``'s one numba pass per view where the pipeline has a
resize or colour stage, the ops otherwise).
Both pipelines come from the same ``cifar_transforms`` call: CIFAR one view (RandomCrop +
flip) and SCL two views (RandomResizedCrop, flip, ColorJitter p=0.8, RandomGrayscale 0.2).
Each side runs R times interleaved; the table shows the best rate (shared cores are noisy).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from ncsweep.data.augment import BatchPipeline
from ncsweep.data.cifar import ImageArrayDataset
from ncsweep.data.transforms import CIFAR10_STATS, cifar_transforms


def _old(data: np.ndarray, train_tf, batch: int) -> float:
    ds = ImageArrayDataset(data, np.zeros(len(data), dtype=np.int64), train_tf)
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0)
    start = time.perf_counter()
    for _x, _y in loader:
        pass
    return len(data) / (time.perf_counter() - start)


def _new(images: torch.Tensor, run, batch: int) -> float:
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for idx in torch.randperm(len(images)).split(batch):
        run(images[idx], gen)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="images per pass")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(args.n, 32, 32, 3), dtype=np.uint8)
    images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
    print(f"torch {torch.__version__}, 1 thread, {args.n} images 32×32, batch {args.batch}")
    print(
        f"{'samples/s':<14}{'torchvision':>12}{'ops':>9}{'pipeline':>10}"
        f"{'ops/tv':>8}{'pipeline/tv':>13}  path"
    )
    for name, views in (("CIFAR 1 view", 1), ("SCL 2 views", 2)):
        train_tf, _ = cifar_transforms(CIFAR10_STATS, views=views, augment=True)
        pipeline = BatchPipeline.from_torchvision(train_tf)
        _new(images[: args.batch], pipeline, args.batch)  # warm-up (numba's cache or compile)
        old, ops, new = 0.0, 0.0, 0.0
        for _ in range(args.repeat):
            old = max(old, _old(data, train_tf, args.batch))
            ops = max(ops, _new(images, pipeline.run_ops, args.batch))
            new = max(new, _new(images, pipeline, args.batch))
        path = "fused" if pipeline.fused is not None else "ops"
        print(
            f"{name:<14}{old:>12,.0f}{ops:>9,.0f}{new:>10,.0f}"
            f"{ops / old:>7.1f}x{new / old:>12.1f}x  {path}"
        )


if __name__ == "__main__":
    main()
