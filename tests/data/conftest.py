"""Fixtures for the data tests: tiny on-disk datasets (the S3 server is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from published_layouts import ALL_TRANSFER_WRITERS


@pytest.fixture
def cifar10_root(tmp_path, fake_cifar_writer) -> Path:
    return fake_cifar_writer(tmp_path / "cifar", "cifar10")


@pytest.fixture
def cifar100_root(tmp_path, fake_cifar_writer) -> Path:
    return fake_cifar_writer(tmp_path / "cifar", "cifar100", train_per_class=2, test_per_class=1)


@pytest.fixture
def imagenet_root(tmp_path) -> Path:
    """A tiny ImageFolder: 4 classes (n000…n003), 3 train and 2 val 12×10 JPEGs each."""
    root = tmp_path / "imagenet"
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for c in range(4):
            folder = root / split / f"n{c:03d}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"img{i}.JPEG")
    return root


@pytest.fixture
def imagenet_shards_root(tmp_path, imagenet_root) -> Path:
    """``imagenet_root`` written as shards of 5 samples (both splits)."""
    from ncsweep.data.shards import write_shards

    out = tmp_path / "imagenet-shards"
    for split in ("train", "val"):
        write_shards(imagenet_root, str(out), split, shard_size=5)
    return out


def _transfer_root(name: str):
    @pytest.fixture
    def root(tmp_path) -> Path:
        return ALL_TRANSFER_WRITERS[name](tmp_path / name)

    return root


# <name>_root for each transfer dataset (tests/published_layouts.py writes its layout)
for _name in ALL_TRANSFER_WRITERS:
    globals()[f"{_name}_root"] = _transfer_root(_name)
