"""``create_dataset(augment_on=...)``: digits and CIFAR as raw uint8 splits carrying the
pipeline the training loop runs on its device, equal to the loader's samples where the
loader is deterministic, and the same augmentation where it is not."""

from __future__ import annotations

import pytest
import torch

from ncsweep.data import create_dataset
from ncsweep.data._registry import resolve_augment_on, supports_device_augmentation


def test_digits_on_device_are_uint8_and_normalise_like_the_loader_path():
    loader = create_dataset("digits", augment_on="loader")
    device = create_dataset("digits", augment_on="device")
    x, y = device.train_eval.batch(torch.arange(20))
    assert x.dtype == torch.uint8 and x.shape == (20, 1, 8, 8)
    ref, ref_y = loader.train_eval.batch(torch.arange(20))
    assert torch.equal(y, ref_y)
    torch.testing.assert_close(device.train_eval.augment_batch(x), ref, atol=1e-5, rtol=1e-5)
    vx, _ = device.val.batch(torch.arange(5))
    torch.testing.assert_close(
        device.val.augment_batch(vx), loader.val.batch(torch.arange(5))[0], atol=1e-5, rtol=1e-5
    )


def test_digits_device_augmentation_is_the_loaders_one_pixel_shift():
    loader = create_dataset("digits", augment_on="loader", augment=False)
    device = create_dataset("digits", augment_on="device", views=2)
    plain = loader.train.batch(torch.arange(8))[0]  # normalised, un-shifted
    fill = plain.min()  # the normalised zero pixel of the background
    padded = torch.nn.functional.pad(plain, (1, 1, 1, 1), value=float(fill))
    shifts = torch.stack([padded[..., i : i + 8, j : j + 8] for i in range(3) for j in range(3)])
    raw = device.train.batch(torch.arange(8))[0]
    gen = torch.Generator().manual_seed(0)
    out = device.train.augment_batch(raw, gen)
    assert out.shape == (8, 2, 1, 8, 8)
    seen = set()
    for s in range(8):
        for v in range(2):
            err = (shifts[:, s] - out[s, v]).abs().flatten(1).amax(1)
            assert err.min() < 1e-4, (s, v)
            seen.add(int(err.argmin()))
    assert len(seen) > 1  # not a fixed shift
    again = device.train.augment_batch(raw, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # the generator alone decides


def test_cifar_on_device_carries_the_torchvision_pipeline(cifar10_root):
    bundle = create_dataset("cifar10", root=str(cifar10_root), views=2, augment_on="device")
    x, _ = bundle.train.batch(torch.arange(4))
    assert x.dtype == torch.uint8 and x.shape == (4, 3, 32, 32)
    assert bundle.train.pipeline.views == 2
    assert bundle.train.augment_batch(x, torch.Generator().manual_seed(1)).shape == (
        4,
        2,
        3,
        32,
        32,
    )
    loader = create_dataset("cifar10", root=str(cifar10_root), augment_on="loader")
    vx, _ = bundle.val.batch(torch.arange(3))
    ref = torch.stack([loader.val[i][0] for i in range(3)])
    torch.testing.assert_close(bundle.val.augment_batch(vx), ref, atol=1e-5, rtol=1e-5)
    lt = create_dataset(
        "cifar10", root=str(cifar10_root), augment_on="device", imbalance={"ratio": 0.5}
    )
    assert lt.train.pipeline is not None and lt.train_eval.batch([0])[0].dtype == torch.uint8


def test_augment_on_resolves_per_dataset():
    assert supports_device_augmentation("digits") and supports_device_augmentation("cifar100")
    assert not supports_device_augmentation("synthetic")
    assert resolve_augment_on("digits", "auto") and not resolve_augment_on("digits", "loader")
    assert not resolve_augment_on("synthetic", "auto")
    with pytest.raises(ValueError, match="cannot augment on the device.*digits"):
        resolve_augment_on("synthetic", "device")
    with pytest.raises(ValueError, match="auto, device, loader"):
        resolve_augment_on("digits", "gpu")
    subset = create_dataset("digits_subset", augment_on="device")
    assert subset.train.pipeline is not None and subset.num_classes == 5
