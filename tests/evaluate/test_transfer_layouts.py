"""Transfer targets in three torchvision layouts (DTD, OxfordIIITPet, Food101), read from a
local root and through the S3 API server; the transfer suite probes each; a root without the
layout says what it looked for; the offline digits targets always work."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from ncsweep.config import load_spec
from ncsweep.data import DataBundle, DatasetNotFoundError, create_dataset
from ncsweep.evaluate import compare, run_suites, subject_from_state
from ncsweep.evaluate.subject import Subject, build_model
from published_layouts import TRANSFER_WRITERS

SPLITS = {"dtd": (6, 3), "oxford_pets": (4, 4), "food101": (4, 4)}  # per class: fit, score


@pytest.mark.parametrize("name", list(TRANSFER_WRITERS))
def test_layout_reads_from_local_and_s3_roots(name, tmp_path, s3fs_client, isolated_cache):
    local = TRANSFER_WRITERS[name](tmp_path / "data")
    s3fs_client.mkdir("transfer")
    s3fs_client.put(str(local), "transfer/sets", recursive=True)
    bundles = [
        create_dataset(name, root=root, augment=False, image_size=8)
        for root in (str(local), "s3://transfer/sets")
    ]
    fit, score = SPLITS[name]
    for bundle in bundles:
        assert bundle.num_classes == 3 and bundle.input_shape == (3, 8, 8)
        assert bundle.class_counts == [fit - 1] * 3  # one image of each class is val
        assert torch.bincount(bundle.val.targets).tolist() == [1] * 3
        assert torch.bincount(bundle.test.targets).tolist() == [score] * 3
        x, y = bundle.test[0]
        assert x.shape == (3, 8, 8) and isinstance(y, int)
    assert torch.equal(bundles[0].test[1][0], bundles[1].test[1][0])  # the same image both ways


def _rgb_subject(family: str = "ce") -> Subject:
    """An untrained MLP encoder on 3×8×8 inputs (the transfer images are resized to it)."""
    torch.manual_seed(0)
    spec = load_spec(None, [f"loss.name={family}", "data.name=synthetic"])
    shape_only = DataBundle(None, None, None, 3, (3, 8, 8), [1, 1, 1], "rgb8")
    model = build_model(spec, shape_only, None)
    return Subject(model, spec, shape_only)


def test_transfer_suite_probes_every_target_and_compares_with_a_baseline(tmp_path):
    root = tmp_path / "data"
    for write in TRANSFER_WRITERS.values():
        write(root)
    options = {"transfer": {"root": str(root), "targets": list(TRANSFER_WRITERS)}}
    result = run_suites(_rgb_subject(), ["transfer"], options)["transfer"]
    for name in TRANSFER_WRITERS:
        # class colours are linearly separable even through a random encoder
        assert result.metrics[f"acc/{name}"] == 1.0, result.rows
    metric = {r["target"]: r["metric"] for r in result.rows}
    assert metric["oxford_pets"] == "mean per-class" and metric["dtd"] == "top-1"
    worse = {k: v / 2 for k, v in result.metrics.items()}
    gains = compare("transfer", result.metrics, worse)
    assert gains["gain_relative/dtd"] == pytest.approx(100.0)
    assert gains["gain_relative/mean"] == pytest.approx(100.0)


def test_a_root_without_the_layout_names_what_it_looked_for(tmp_path):
    (tmp_path / "food-101").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        create_dataset("food101", root=str(tmp_path), augment=False)
    assert "food-101/images" in str(err.value) and str(tmp_path) in str(err.value)


def test_offline_digits_targets(tmp_path):
    spec = load_spec(None, ["loss.name=nonl"])
    torch.manual_seed(0)
    subject = subject_from_state(spec, None)
    options = {"transfer": {"targets": ["digits_5to9"]}}
    result = run_suites(subject, ["transfer"], options)["transfer"]
    (row,) = result.rows
    upper = int(np.isin(load_digits().target, [5, 6, 7, 8, 9]).sum())
    assert row["target"] == "digits_5to9" and row["train"] + row["test"] == upper
    assert 0.5 < result.metrics["acc/digits_5to9"] <= 1.0
