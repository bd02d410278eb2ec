"""Each of the 15 corruptions: shape, dtype and range kept, deterministic for a seed, and
severity 5 moves the image further than severity 1, with both parameter tables: CIFAR-10-C's
(digits 8×8 upsampled to 32, 32×32 and 64×64 RGB at their size) and ImageNet-C's (96×96 RGB
upsampled to 288, 224×224 RGB at its size)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from ncsweep.data.corruption_ops import (
    CORRUPTIONS,
    PARAMETER_SETS,
    SEVERITIES,
    corrupt_image,
    corrupt_images,
    plan_for,
)


def _digits(n: int = 24) -> np.ndarray:
    images = load_digits().images[:n] / 16.0
    return np.round(images * 255).astype(np.uint8)[..., None]  # N×8×8×1


def _rgb32(n: int = 6) -> np.ndarray:
    """32×32 RGB images: upsampled digits on a coloured background (smooth, natural-ish)."""
    digits = np.kron(load_digits().images[:n] / 16.0, np.ones((4, 4)))[..., None]
    background = np.array([0.2, 0.5, 0.7])
    return np.round((0.3 * background + 0.7 * digits) * 255).astype(np.uint8)


def _rgb(side: int, n: int = 2) -> np.ndarray:
    """side×side RGB: bilinearly resized digits on a vertical colour gradient."""
    import torch

    digits = torch.tensor(load_digits().images[:n] / 16.0, dtype=torch.float32)[:, None]
    digits = torch.nn.functional.interpolate(digits, size=(side, side), mode="bilinear")
    shade = np.linspace(0.5, 1, side)[None, :, None, None]
    background = np.array([0.2, 0.5, 0.7]) * shade
    return np.round((0.4 * background + 0.6 * digits[:, 0, ..., None].numpy()) * 255).astype(
        np.uint8
    )


# (images, the table plan_for gives them); a 224 px set of two images keeps the tests fast
_SETS = {
    "digits8x8x1": (_digits(), "cifar"),
    "rgb32x32x3": (_rgb32(), "cifar"),
    "rgb64x64x3": (_rgb(64), "cifar"),
    "rgb96x96x3": (_rgb(96), "imagenet"),
    "rgb224x224x3": (_rgb(224), "imagenet"),
}
_IMAGES = [pytest.param(images, id=name) for name, (images, _) in _SETS.items()]


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("images", _IMAGES)
def test_corruption_keeps_shape_dtype_range_and_is_deterministic(name, images):
    out = corrupt_images(images, name, 3, seed=7)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert out.min() >= 0 and out.max() <= 255
    assert np.array_equal(out, corrupt_images(images, name, 3, seed=7))
    assert _distance(out, images) > 0  # it does something


# Both elastic_transform tables trade a large affine warp at severity 1 (CIFAR: up to
# 0.08·32 px; ImageNet: 0.1·244 px and a smooth 2·244 px field) for local elastic warping at
# severity 5, so severity 5 moves pixels LESS than severity 1 by any pixel distance; the
# published sets have the same property.
_NOT_MONOTONE = {"elastic_transform"}


@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n not in _NOT_MONOTONE])
@pytest.mark.parametrize("images", _IMAGES)
def test_severity_5_moves_the_image_further_than_severity_1(name, images):
    d1 = _distance(corrupt_images(images, name, 1, seed=0), images)
    d5 = _distance(corrupt_images(images, name, 5, seed=0), images)
    assert d5 > d1, (d1, d5)


@pytest.mark.parametrize("images", _IMAGES[1:])
def test_elastic_transform_moves_images_at_both_ends(images):
    for severity in (1, 5):
        assert _distance(corrupt_images(images, "elastic_transform", severity, seed=0), images) > 1


def test_every_table_has_five_severities_of_every_corruption():
    for table in PARAMETER_SETS.values():
        assert set(table.params) == set(CORRUPTIONS), table.name
        assert all(len(p) == len(SEVERITIES) for p in table.params.values()), table.name


def test_the_table_is_the_nearest_on_a_log_scale_and_upsampling_reaches_its_side():
    cifar, imagenet = PARAMETER_SETS["cifar"], PARAMETER_SETS["imagenet"]
    threshold = np.sqrt(cifar.size * imagenet.size)
    for side in range(4, 3 * imagenet.size):
        table, k = plan_for(side, side + 5)  # the shorter side decides
        assert table is (cifar if side < threshold else imagenet), side
        assert k * side >= table.size and (k == 1 or (k - 1) * side < table.size), side
    for name, (images, expected) in _SETS.items():
        assert plan_for(*images.shape[1:3])[0].name == expected, name


@pytest.mark.parametrize("name", ["gaussian_noise", "defocus_blur", "contrast", "pixelate"])
def test_the_imagenet_table_is_harsher_than_the_cifar_one_on_the_same_image(name):
    """At 224 px the ImageNet-C severity 3 moves the image further than CIFAR-10-C's (the
    tables differ, and corrupt_images uses ImageNet's there)."""
    images = _rgb(224)
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    by_table = {
        t: _distance(np.stack([corrupt_image(i, name, 3, rng(), t) for i in images]), images)
        for t in PARAMETER_SETS
    }
    assert by_table["imagenet"] > by_table["cifar"], by_table
    chosen = _distance(corrupt_images(images, name, 3, seed=0), images)
    assert abs(chosen - by_table["imagenet"]) < abs(chosen - by_table["cifar"]), (chosen, by_table)


def test_random_corruptions_change_with_the_seed():
    images = _digits()
    for name in ("gaussian_noise", "impulse_noise", "snow", "fog", "frost", "glass_blur"):
        assert not np.array_equal(
            corrupt_images(images, name, 4, seed=0), corrupt_images(images, name, 4, seed=1)
        ), name


def test_bad_arguments_name_what_is_allowed():
    with pytest.raises(ValueError, match="allowed: gaussian_noise"):
        corrupt_images(_digits(), "rain", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt_images(_digits(), "fog", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt_images(_digits().astype(np.float32), "fog", 1)
    with pytest.raises(ValueError, match="allowed: cifar, imagenet"):
        corrupt_image(_rgb32()[0], "fog", 1, np.random.default_rng(0), "tiny")
