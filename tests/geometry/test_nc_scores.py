import math

import numpy as np
import pytest
import torch

from ncsweep.geometry import (
    METRIC_NAMES,
    ClassStats,
    NCCAgreement,
    collapse_metrics,
    default_bounds,
    mir_at_collapse,
    nc_scores,
)


def test_random_gaussian_features_score_low_on_collapse_metrics():
    # K=10 classes, D=64, 50 samples per class of pure noise; random prototypes and logits.
    k, d, n = 10, 64, 500
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % k
    h = torch.randn(n, d, generator=gen)
    w = torch.randn(k, d, generator=gen)
    stats = ClassStats(k, d).update(h, y)
    agreement = NCCAgreement(stats).update(h, y, torch.randn(n, k, generator=gen))
    scores = nc_scores(collapse_metrics(stats, w, agreement), k)
    assert set(scores) == set(METRIC_NAMES)
    # values at this seed (raw -> score): nc1 7.45 -> 0, cdnv 24.5 -> 0, self_duality 2.05 -> 0,
    # align_proto_class 2.02 -> 0, align_proto_instance 2.00 -> 0, erank_intra 33.5 -> 3.0,
    # ncc_mismatch 0.898 -> 10.2; by concentration of measure NC2 and the Gram/rank metrics
    # stay high: equinorm 98.0, equiangular 89.3, max_angle 92.1, etf_error 72.3,
    # erank_inter 95.0, erank_proto 94.3, mir 98.1, hdr 96.2.
    for name in ("nc1", "cdnv", "self_duality", "align_proto_class", "align_proto_instance"):
        assert scores[name] < 5, name
    assert scores["erank_intra"] < 5
    assert scores["ncc_mismatch"] < 20
    # high-dimensional random means are near-equinorm/equiangular (concentration of measure)
    assert scores["equinorm"] > 80


def test_scores_use_the_initial_value_as_bound():
    scores = nc_scores(
        {"nc1": 5.0, "align_proto_class": 0.5}, 10, initial={"nc1": 20.0, "align_proto_class": 1.0}
    )
    assert scores["nc1"] == pytest.approx(75.0)
    assert scores["align_proto_class"] == pytest.approx(50.0)
    assert nc_scores({"nc1": 5.0}, 10)["nc1"] == 0.0  # default bound 1: clipped


def test_scores_are_100_only_at_the_collapse_value():
    k = 10
    at_collapse = {name: 0.0 for name in METRIC_NAMES}
    at_collapse.update(
        erank_intra=1.0, erank_inter=k - 1, erank_proto=k - 1, mir=mir_at_collapse(k)
    )
    assert all(v == 100.0 for v in nc_scores(at_collapse, k).values())
    near = {name: v + 1e-3 for name, v in at_collapse.items()}
    near.update(erank_inter=k - 1.01, erank_proto=k - 1.01)
    assert all(v < 100.0 for v in nc_scores(near, k).values())


def test_bounds_are_the_stated_maxima():
    b = default_bounds(4)
    assert b["equinorm"] == pytest.approx(math.sqrt(3))
    assert b["max_angle"] == pytest.approx(4 / 3)
    # etf_error's bound is reached by collinear (rank-one) centred means
    mbar = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    g = mbar @ mbar.T
    etf = (np.eye(4) - 1 / 4) / math.sqrt(3)
    assert np.linalg.norm(g / np.linalg.norm(g) - etf) == pytest.approx(b["etf_error"])


def test_mir_at_collapse_matches_the_etf_gram_numerically():
    from ncsweep.geometry import matrix_entropy

    k = 7
    g = (k / (k - 1)) * (torch.eye(k, dtype=torch.float64) - 1 / k)
    h = matrix_entropy(g)
    assert (2 * h - matrix_entropy(g * g)) / h == pytest.approx(mir_at_collapse(k), rel=1e-12)


def test_an_initial_value_near_zero_falls_back_to_the_default_bound():
    # SCL: prototypes are the class means, so at step 0 align_proto_class is ~1e-16 and
    # ncc_mismatch ~0; those are no "no collapse" reference and must not become the bound.
    k = 10
    initial = {"align_proto_class": 1e-16, "ncc_mismatch": 0.0, "nc1": 0.05, "hdr": 1e-12}
    got = nc_scores(
        {"align_proto_class": 0.02, "ncc_mismatch": 0.01, "nc1": 0.05, "hdr": 0.01}, k, initial
    )
    want = nc_scores({"align_proto_class": 0.02, "ncc_mismatch": 0.01, "nc1": 0.05, "hdr": 0.01}, k)
    assert got == want
    assert got["align_proto_class"] == pytest.approx(99.0)  # default bound 2
    assert got["ncc_mismatch"] == pytest.approx(99.0)  # default bound 1
    assert got["nc1"] == pytest.approx(95.0)  # 0.05 < 10 % of the default 1
    # erank_intra: an initial of ~1 (already collapsed) is no reference either
    assert nc_scores({"erank_intra": 2.0}, k, {"erank_intra": 1.0 + 1e-9}) == nc_scores(
        {"erank_intra": 2.0}, k
    )
    # mir: an initial at the collapse value is ignored
    target = mir_at_collapse(k)
    assert nc_scores({"mir": target - 0.1}, k, {"mir": target}) == nc_scores(
        {"mir": target - 0.1}, k
    )


def test_a_meaningful_initial_value_is_used_as_the_bound():
    k = 10
    # exactly at 10 % of the default bound (0.2 of 2) the initial is used
    assert nc_scores({"align_proto_class": 0.1}, k, {"align_proto_class": 0.2})[
        "align_proto_class"
    ] == pytest.approx(50.0)
    assert nc_scores({"ncc_mismatch": 0.09}, k, {"ncc_mismatch": 0.9})[
        "ncc_mismatch"
    ] == pytest.approx(90.0)
    assert nc_scores({"erank_intra": 11.0}, k, {"erank_intra": 21.0})[
        "erank_intra"
    ] == pytest.approx(50.0)
    target = mir_at_collapse(k)
    assert nc_scores({"mir": target - 0.2}, k, {"mir": target - 0.4})["mir"] == pytest.approx(50.0)
