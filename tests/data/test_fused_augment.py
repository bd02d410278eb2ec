"""The fused CPU path (ncsweep.data.augment.fused) against the batched ops it replaces.

Same generator, same input: the fused call must return what the ops return (float32 rounding
apart) and leave the generator where the ops leave it, so checkpoints and the statistical
tests against torchvision (test_batch_augment.py, which run through the pipeline) carry over.
"""

from __future__ import annotations

import pytest
import torch
from torchvision import transforms as T

from ncsweep.data.augment import BatchPipeline
from ncsweep.data.augment.fused import FusedPipeline
from ncsweep.data.augment.ops import Normalize, RandomCrop
from ncsweep.data.transforms import CIFAR10_STATS, IMAGENET_STATS, cifar_transforms

JITTER = T.ColorJitter(0.4, 0.4, 0.4, 0.1)


def _images(n: int, c: int = 3, h: int = 32, w: int = 32) -> torch.Tensor:
    """uint8 images with every hard case: random pixels, grey images, saturated 0/255 pixels."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    x[::5] = x[::5, :1]  # grey: hue undefined
    x[1::7, :, : h // 2] = 255
    x[2::7, 0] = 0
    return x


def _fused_and_ops(pipeline: BatchPipeline, x: torch.Tensor, seed: int = 0):
    assert pipeline.fused is not None and pipeline.fused.accepts(x)
    g_fused, g_ops = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    fused = pipeline.fused(x, g_fused)
    ops = pipeline.run_ops(x, g_ops)
    assert torch.equal(g_fused.get_state(), g_ops.get_state()), "the draws differ"
    return fused, ops


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_supcon_pipeline_equals_the_ops(views, dtype):
    train_tf, _ = cifar_transforms(CIFAR10_STATS, views=2, augment=True)
    pipeline = BatchPipeline(BatchPipeline.from_torchvision(train_tf).ops, views)
    x = _images(300)
    x = x if dtype == torch.uint8 else x.float() / 255
    fused, ops = _fused_and_ops(pipeline, x)
    assert fused.shape == ops.shape == (300 * views, 3, 32, 32)
    through_pipeline = pipeline(x, torch.Generator().manual_seed(0))  # takes the fused path
    assert torch.equal(through_pipeline.reshape(fused.shape), fused)
    assert (fused - ops).abs().max() < 1e-4  # normalised units (std ~0.25)


@pytest.mark.parametrize(
    "steps",
    [
        [T.ColorJitter(0.4, 0.4, 0.4, 0.1)],  # jitter on every sample, no resize
        [T.ColorJitter(brightness=0.5, hue=0.5)],  # disabled adjustments skipped
        [T.RandomCrop(32, padding=4, fill=17), T.RandomGrayscale(0.5)],  # padding with a fill
        [T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ToTensor()],  # 48×40 -> 24: shrinks
        [T.RandomResizedCrop(64, scale=(0.05, 1.0)), JITTER, T.Normalize(*IMAGENET_STATS)],
    ],
    ids=["jitter", "brightness+hue", "crop+grey", "shrink", "enlarge+jitter"],
)
def test_each_stage_equals_the_ops(steps):
    pipeline = BatchPipeline.from_torchvision(T.Compose(steps))
    fused, ops = _fused_and_ops(pipeline, _images(200, h=48, w=40))
    assert (fused - ops).abs().max() < 1e-4


def test_other_pipelines_run_their_ops():
    # nothing costly to fuse (digits' shift + normalise), or an order the kernel does not know
    assert BatchPipeline([RandomCrop((8, 8), (1,) * 4, 0), Normalize([0.5], [0.2])]).fused is None
    flip_first = T.Compose([T.RandomHorizontalFlip(), T.RandomResizedCrop(32)])
    assert BatchPipeline.from_torchvision(flip_first).fused is None
    jitter = BatchPipeline.from_torchvision(T.Compose([JITTER]))
    assert not jitter.fused.accepts(torch.zeros(2, 1, 8, 8))  # colour needs 3 channels
    assert not jitter.fused.accepts(torch.zeros(2, 3, 8, 8, dtype=torch.float64))


def test_plan_keeps_the_ops_own_objects():
    train_tf, _ = cifar_transforms(CIFAR10_STATS, views=2, augment=True)
    pipeline = BatchPipeline.from_torchvision(train_tf)
    plan = FusedPipeline.plan(pipeline.ops, 2)
    assert plan.geometry is pipeline.ops[0] and plan.normalize is pipeline.ops[-1]
    assert plan.views == 2 and "RandomResizedCrop" in repr(plan)
