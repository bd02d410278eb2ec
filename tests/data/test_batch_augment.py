"""Batched augmentation (ncsweep.data.augment) against torchvision's per-sample transforms.

Kernels are compared exactly (torchvision's tensor functions, same parameters); the random
ops statistically against torchvision run on the same images (seeded, so each test is
reproducible; thresholds at p = 1e-3 so a correct implementation fails about once in a
thousand seeds, and a wrong probability or range fails by orders of magnitude).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from scipy import stats
from torchvision import transforms as T

from ncsweep.data.augment import BatchPipeline, from_torchvision, kernels
from ncsweep.data.augment.ops import RandomCrop, RandomResizedCrop
from ncsweep.data.in_memory import TensorImageDataset
from ncsweep.data.transforms import CIFAR10_STATS, cifar_transforms

P_MIN = 1e-3


def _pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(x.permute(1, 2, 0).numpy())


def _tensor(img) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)


def _coordinate_image(size: int = 32) -> torch.Tensor:
    """3×size×size uint8: channel 0 is row + 1, channel 1 is column + 1 (0 means padding)."""
    idx = torch.arange(1, size + 1, dtype=torch.uint8)
    return torch.stack(
        [idx[:, None].expand(size, size), idx[None, :].expand(size, size), torch.zeros(size, size)]
    ).to(torch.uint8)


def _crop_offsets(out: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Top and left offsets (0..2·pad) of crops of the coordinate image, from the centre pixel."""
    centre = out.shape[-1] // 2
    rows = out[:, 0, centre, centre].long() - 1 - centre + pad
    cols = out[:, 1, centre, centre].long() - 1 - centre + pad
    return rows * (2 * pad + 1) + cols


def test_random_crop_offsets_are_uniform_like_torchvision():
    n = 8100
    img = _coordinate_image()
    # our batch: the op built from the CIFAR pipeline's own RandomCrop, before any flip
    op = from_torchvision(T.RandomCrop(32, padding=4))
    ours = _crop_offsets(op(img.expand(n, -1, -1, -1), torch.Generator().manual_seed(0)))
    torch.manual_seed(0)
    tv = T.RandomCrop(32, padding=4)
    theirs = _crop_offsets(torch.stack([_tensor(tv(_pil(img))) for _ in range(2000)]))
    for offsets in (ours, theirs):
        counts = torch.bincount(offsets, minlength=81).numpy()
        assert len(counts) == 81
        assert stats.chisquare(counts).pvalue > P_MIN
    table = np.stack([torch.bincount(o, minlength=81).numpy() for o in (ours, theirs)])
    assert stats.chi2_contingency(table).pvalue > P_MIN


def test_random_crop_pixels_equal_torchvision_pad_then_crop():
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    op = RandomCrop((32, 32), (4, 4, 4, 4), fill=0)
    gen = torch.Generator().manual_seed(3)
    top, left = op.sample(4, (40, 40), x, gen.clone_state())
    out = op(x, gen)
    for s in range(4):
        ref = TF.crop(TF.pad(x[s], [4]), int(top[s]), int(left[s]), 32, 32)
        assert torch.equal(out[s], ref)


def test_flip_rate_is_one_half():
    n = 4000
    img = _coordinate_image()
    op = from_torchvision(T.RandomHorizontalFlip())
    out = op(img.expand(n, -1, -1, -1), torch.Generator().manual_seed(0))
    flipped = out[:, 1, 0, 0] == 32
    assert torch.equal(out[flipped], img.flip(-1).expand(int(flipped.sum()), -1, -1, -1))
    assert torch.equal(out[~flipped], img.expand(int((~flipped).sum()), -1, -1, -1))
    assert stats.binomtest(int(flipped.sum()), n, 0.5).pvalue > P_MIN


def test_random_resized_crop_params_match_torchvision_get_params():
    n = 4000
    for hw, scale in (((32, 32), (0.2, 1.0)), ((32, 12), (0.5, 1.0))):  # tall: many fallbacks
        op = RandomResizedCrop((32, 32), scale=scale)
        probe = torch.zeros(1, 3, *hw)
        top, left, h, w = op.sample(n, hw, probe, torch.Generator().manual_seed(0))
        torch.manual_seed(0)
        img = torch.zeros(3, *hw)
        theirs = torch.tensor(
            [T.RandomResizedCrop.get_params(img, list(scale), [3 / 4, 4 / 3]) for _ in range(n)]
        )
        for ours_v, theirs_v in (
            (h * w, theirs[:, 2] * theirs[:, 3]),
            (w / h, theirs[:, 3] / theirs[:, 2]),
            (top, theirs[:, 0]),
            (left, theirs[:, 1]),
        ):
            assert stats.ks_2samp(ours_v.double().numpy(), theirs_v.double().numpy()).pvalue > P_MIN
        assert (h <= hw[0]).all() and (w <= hw[1]).all() and (top + h <= hw[0]).all()
        assert (left + w <= hw[1]).all() and (h > 0).all() and (w > 0).all()


def test_random_resized_crop_falls_back_to_the_centre_crop_like_torchvision():
    # a 32×4 strip: no crop with a ratio in [3/4, 4/3] and area ≥ 0.9 fits, every try fails
    op = RandomResizedCrop((8, 8), scale=(0.9, 1.0))
    top, left, h, w = op.sample(5, (32, 4), torch.zeros(1), torch.Generator().manual_seed(0))
    expected = T.RandomResizedCrop.get_params(torch.zeros(3, 32, 4), [0.9, 1.0], [3 / 4, 4 / 3])
    assert {
        (int(a), int(b), int(c), int(d)) for a, b, c, d in zip(top, left, h, w, strict=True)
    } == {expected}


def test_resized_crop_kernel_matches_torchvision_tensor_and_pil():
    x = torch.randint(0, 256, (4, 3, 48, 40), dtype=torch.uint8)
    crops = torch.tensor([[0, 0, 48, 40], [3, 7, 20, 25], [10, 1, 14, 18], [5, 2, 40, 37]])
    out = kernels.resized_crop(x, *crops.T, (32, 32))  # up- and downscaling (antialiased)
    for s, (i, j, h, w) in enumerate(crops.tolist()):
        tensor_ref = TF.resized_crop(x[s].float(), i, j, h, w, [32, 32], antialias=True)
        assert torch.allclose(out[s], tensor_ref, atol=1e-3)
        pil_ref = _tensor(TF.resized_crop(_pil(x[s]), i, j, h, w, [32, 32])).float()
        assert (out[s] - pil_ref).abs().max() <= 1.0  # PIL rounds to uint8 between passes


@pytest.mark.parametrize(
    ("ours", "theirs", "lo", "hi"),
    [
        (kernels.adjust_brightness, TF.adjust_brightness, 0.6, 1.4),
        (kernels.adjust_contrast, TF.adjust_contrast, 0.6, 1.4),
        (kernels.adjust_saturation, TF.adjust_saturation, 0.6, 1.4),
        (kernels.adjust_hue, TF.adjust_hue, -0.5, 0.5),
    ],
)
def test_colour_kernels_equal_torchvision_per_sample(ours, theirs, lo, hi):
    x = torch.rand(6, 3, 16, 16)
    x[0] = x[0, :1]  # a grey image: hue undefined, must stay grey
    factors = torch.linspace(lo, hi, 6)
    out = ours(x, factors)
    for s in range(6):
        assert torch.allclose(out[s], theirs(x[s], float(factors[s])), atol=1e-5)


def test_grayscale_kernel_equals_torchvision():
    x = torch.rand(3, 3, 8, 8)
    assert torch.allclose(kernels.grayscale(x), TF.rgb_to_grayscale(x), atol=1e-6)


def test_colour_jitter_order_is_a_uniform_permutation():
    n = 2400
    op = from_torchvision(T.ColorJitter(0.4, 0.4, 0.4, 0.1))
    gen = torch.Generator().manual_seed(0)
    order, factors = op.sample(n, torch.zeros(1), gen)
    code = (order * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = np.unique(code.numpy(), return_counts=True)[1]
    assert len(counts) == 24 and stats.chisquare(counts).pvalue > P_MIN
    for factor, (lo, hi) in zip(factors, ((0.6, 1.4),) * 3 + ((-0.1, 0.1),), strict=True):
        assert stats.kstest(factor.numpy(), stats.uniform(lo, hi - lo).cdf).pvalue > P_MIN
    op(torch.rand(n, 3, 4, 4), gen)  # runs with all orders present


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_colour_jitter_blocks_equal_the_rounds_bit_for_bit(dtype):
    # the CPU block path (samples sorted by their order) is only a faster schedule
    op = from_torchvision(T.ColorJitter(0.4, 0.4, 0.4, 0.1))
    x = _images(600) if dtype == torch.uint8 else _images(600).float() / 255
    blocks = op(x, torch.Generator().manual_seed(3))
    op.BLOCKS_FROM = 10**9  # instance attribute: this op takes the rounds
    rounds = op(x, torch.Generator().manual_seed(3))
    assert len(x) >= type(op).BLOCKS_FROM and torch.equal(blocks, rounds)


def _channel_stats(x: torch.Tensor) -> torch.Tensor:
    """B×6: per-channel mean and std of each float image."""
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    """n colourful, smooth 3×32×32 uint8 images (random colour gradients plus noise)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 2, 2, generator=g)
    smooth = torch.nn.functional.interpolate(base, size=32, mode="bilinear")
    noisy = smooth + 0.1 * torch.randn(n, 3, 32, 32, generator=g)
    return (noisy.clamp(0, 1) * 255).round().to(torch.uint8)


def _compare_per_channel(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    a, b = _channel_stats(ours.float()), _channel_stats(theirs.float())
    for col in range(a.shape[1]):
        assert stats.ks_2samp(a[:, col].numpy(), b[:, col].numpy()).pvalue > P_MIN, col


def test_colour_jitter_statistics_match_torchvision_on_the_same_images():
    images = _images(16).repeat(64, 1, 1, 1)  # 1024 samples of 16 images
    tv = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
    ours = from_torchvision(tv)(images, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    theirs = torch.stack([_tensor(tv(_pil(x))) for x in images]).float() / 255
    _compare_per_channel(ours, theirs)


def test_grayscale_rate_matches_p():
    n = 3000
    op = from_torchvision(T.RandomGrayscale(p=0.2))
    out = op(_images(n), torch.Generator().manual_seed(0))
    grey = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert stats.binomtest(int(grey.sum()), n, 0.2).pvalue > P_MIN


@pytest.mark.parametrize("views", [1, 2])
def test_whole_pipeline_statistics_match_torchvision(views):
    train_tf, _ = cifar_transforms(CIFAR10_STATS, views=views, augment=True)
    pipeline = BatchPipeline.from_torchvision(train_tf)
    images = _images(8).repeat(96, 1, 1, 1)
    ours = pipeline(images, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    theirs = torch.stack([train_tf(_pil(x)) for x in images])
    assert ours.shape == theirs.shape == (len(images), *((views,) if views > 1 else ()), 3, 32, 32)
    _compare_per_channel(ours.reshape(-1, 3, 32, 32), theirs.reshape(-1, 3, 32, 32))


def test_same_seed_same_batch_and_views_differ():
    train_tf, _ = cifar_transforms(CIFAR10_STATS, views=2, augment=True)
    pipeline = BatchPipeline.from_torchvision(train_tf)
    images = _images(32)
    a = pipeline(images, torch.Generator().manual_seed(7))
    b = pipeline(images, torch.Generator().manual_seed(7))
    c = pipeline(images, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:, 0], a[:, 1])


def test_saved_generator_state_replays_the_rest_of_the_stream():
    train_tf, _ = cifar_transforms(CIFAR10_STATS, views=2, augment=True)
    pipeline = BatchPipeline.from_torchvision(train_tf)
    batches = [_images(16, seed=s) for s in range(4)]
    gen = torch.Generator().manual_seed(0)
    first = [pipeline(x, gen) for x in batches[:2]]
    saved = gen.get_state()  # what a checkpoint stores
    rest = [pipeline(x, gen) for x in batches[2:]]
    resumed = torch.Generator()
    resumed.set_state(saved)
    assert all(torch.equal(a, pipeline(x, resumed)) for a, x in zip(rest, batches[2:], strict=True))
    assert not torch.equal(first[0], rest[0])


def test_unsupported_transform_is_named():
    with pytest.raises(ValueError, match="RandomVerticalFlip.*supported.*RandomResizedCrop"):
        BatchPipeline.from_torchvision(T.Compose([T.RandomVerticalFlip()]))


def test_tensor_dataset_carries_the_pipeline_for_the_training_loop():
    train_tf, eval_tf = cifar_transforms(CIFAR10_STATS, views=2, augment=True)
    images = _images(10)
    ds = TensorImageDataset(
        images, torch.arange(10), pipeline=BatchPipeline.from_torchvision(train_tf)
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    x, y = next(iter(loader))
    assert x.dtype == torch.uint8 and torch.equal(x, images[:4]) and y.tolist() == [0, 1, 2, 3]
    views = ds.augment_batch(x, torch.Generator().manual_seed(0))
    assert views.shape == (4, 2, 3, 32, 32) and views.dtype == torch.float32
    sub = ds.subset([1, 3]).augment_batch(images[[1, 3]], torch.Generator().manual_seed(0))
    assert sub.shape == (2, 2, 3, 32, 32)
    # train_eval keeps ToTensor + Normalize: equal to the eval transform on PIL
    fixed = ds.without_augmentation().augment_batch(images[:2])
    assert torch.allclose(fixed[1], eval_tf(_pil(images[1])), atol=1e-6)
    with pytest.raises(ValueError, match="either a pipeline"):
        TensorImageDataset(images, torch.arange(10), views=2, pipeline=ds.pipeline)
