"""Seeded Gaussian-mixture images, for tests and benchmarks (no files, any size).

Class c has a centre ``μ_c`` (C×S×S): Gaussian noise at half resolution, bilinearly upsampled
so it is spatially smooth (a one-pixel shift keeps it recognisable), scaled to unit RMS. A
sample is ``μ_c + noise · ε`` with ``ε ~ N(0, I)``. Train, val and test draw from the same
centres with different noise. The centres and the test samples come from a fixed generator
(``splits.TEST_SEED``): every seed is scored on the same test images; the run's seed draws
train and val. Augmentation: a random shift of ±1 pixel, like digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ncsweep.data._registry import DataBundle, register_dataset
from ncsweep.data.in_memory import in_memory_bundle
from ncsweep.data.splits import TEST_SEED

__all__ = ["build_synthetic", "gaussian_mixture"]


def gaussian_mixture(
    num_classes: int,
    samples_per_class: int,
    *,
    centres: torch.Tensor,
    noise: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples_per_class`` draws around each of the K centres (K×C×H×W).

    Returns: images (K·n)×C×H×W, labels K·n (class-major order).
    """
    labels = torch.arange(num_classes).repeat_interleave(samples_per_class)
    eps = torch.randn((len(labels), *centres.shape[1:]), generator=generator)
    return centres[labels] + noise * eps, labels


@register_dataset("synthetic")
def build_synthetic(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    num_classes: int = 10,
    samples_per_class: int = 100,
    val_samples_per_class: int | None = None,
    test_samples_per_class: int | None = None,
    image_size: int = 8,
    channels: int = 1,
    noise: float = 1.0,
) -> DataBundle:
    """Gaussian mixture with K = ``num_classes`` classes of C×S×S images.

    ``val_samples_per_class`` and ``test_samples_per_class`` default to
    ``samples_per_class``.
    """
    for key, value, low in (
        ("num_classes", num_classes, 2),
        ("samples_per_class", samples_per_class, 1),
        ("image_size", image_size, 2),
        ("channels", channels, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"synthetic option {key} must be an integer >= {low}, got {value!r}")
    if noise < 0:
        raise ValueError(f"synthetic option noise must be >= 0, got {noise!r}")
    n_val = samples_per_class if val_samples_per_class is None else val_samples_per_class
    n_test = samples_per_class if test_samples_per_class is None else test_samples_per_class
    fixed = torch.Generator().manual_seed(TEST_SEED)
    low_res = max(1, image_size // 2)
    centres = torch.randn((num_classes, channels, low_res, low_res), generator=fixed)
    centres = F.interpolate(
        centres, size=(image_size, image_size), mode="bilinear", align_corners=False
    )
    centres = centres / centres.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-8)
    test = gaussian_mixture(num_classes, n_test, centres=centres, noise=noise, generator=fixed)
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = gaussian_mixture(
        num_classes, samples_per_class, centres=centres, noise=noise, generator=generator
    )
    val_x, val_y = gaussian_mixture(
        num_classes, n_val, centres=centres, noise=noise, generator=generator
    )
    return in_memory_bundle(
        train_x,
        train_y,
        val_x,
        val_y,
        num_classes=num_classes,
        views=views,
        augment=augment,
        shift=1,
        name="synthetic",
        test=test,
    )
