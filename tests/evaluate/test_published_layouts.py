"""The published corrupted sets, read from local paths and through the S3 API server:
CIFAR-10-C arrays and ImageNet-C folders; a root with neither says what it looked for."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncsweep.config import load_spec
from ncsweep.data import DatasetNotFoundError
from ncsweep.data.corrupted_sets import find_published
from ncsweep.data.corruption_ops import CORRUPTIONS, SEVERITIES
from ncsweep.evaluate import compare, run_suites, subject_from_state
from ncsweep.evaluate.corruption import _imagenet_c
from published_layouts import write_cifar_c, write_imagenet_c


def _check_cifar_c(source, per_severity: int) -> None:
    assert source.kind == "cifar-c"
    for s in SEVERITIES:
        images, labels = source.cifar_c("fog", s)
        assert images.shape == (per_severity, 32, 32, 3) and images.dtype == np.uint8
        rows = images[:, 0, 0, 0]  # the writer stored each row's index there
        assert rows.tolist() == list(range((s - 1) * per_severity, s * per_severity))
        assert labels.tolist() == [i % 3 for i in range(per_severity)]


def test_cifar_c_local_and_s3(tmp_path, s3fs_client, isolated_cache):
    local = write_cifar_c(tmp_path / "CIFAR-10-C", per_severity=6)
    _check_cifar_c(find_published(str(local)), 6)
    s3fs_client.mkdir("robust")
    s3fs_client.put(str(local), "robust/CIFAR-10-C", recursive=True)
    remote = find_published("s3://robust/CIFAR-10-C")
    _check_cifar_c(remote, 6)
    assert str(remote.root).startswith(str(isolated_cache))


def test_imagenet_c_local_and_s3(tmp_path, s3fs_client, isolated_cache):
    wnids = ["n01440764", "n01443537"]
    local = write_imagenet_c(tmp_path / "ImageNet-C", wnids)
    s3fs_client.mkdir("robust")
    s3fs_client.put(str(local), "robust/ImageNet-C", recursive=True)
    for root in (str(local), "s3://robust/ImageNet-C"):
        source = find_published(root)
        assert source.kind == "imagenet-c"
        images, labels = _imagenet_c(source.imagenet_c_folder("contrast", 5), wnids[::-1], 16)
        assert images.shape == (2, 16, 16, 3) and labels.tolist() == [0, 1]
        # label = position in the run's class list: the reversed list swaps the colours
        assert images[0].mean(axis=(0, 1))[2] > images[0].mean(axis=(0, 1))[0]


def test_a_root_without_either_layout_says_what_it_looked_for(tmp_path):
    (tmp_path / "fog.npy").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as err:
        find_published(str(tmp_path))
    text = str(err.value)
    assert str(tmp_path) in text and "labels.npy" in text and "gaussian_noise" in text
    assert "<corruption>/<1..5>/<wnid>/" in text


def test_corruption_suite_reads_cifar_c_and_the_baselines_own_mce_is_exactly_100(
    tmp_path, fake_cifar_writer
):
    cifar = fake_cifar_writer(tmp_path / "cifar", "cifar10", train_per_class=3, test_per_class=2)
    spec = load_spec(None, ["data.name=cifar10", f"data.root={cifar}", "loss.name=ntce"])
    torch.manual_seed(0)
    subject = subject_from_state(spec, None)
    root = write_cifar_c(tmp_path / "CIFAR-10-C", per_severity=6)
    result = run_suites(subject, ["corruption"], {"corruption": {"root": str(root)}})["corruption"]
    keys = [k for k in result.metrics if k.count("/") == 2]
    assert len(keys) == len(CORRUPTIONS) * len(SEVERITIES)
    assert all(0.0 <= result.metrics[k] <= 1.0 for k in keys)
    own = compare("corruption", result.metrics, result.metrics)
    assert own["mce"] == 100.0
    assert all(own[f"ce/{c}"] == 100.0 for c in CORRUPTIONS if f"ce/{c}" in own)
