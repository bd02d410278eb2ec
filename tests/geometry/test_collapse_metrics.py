import math

import numpy as np
import pytest
import torch
from _geometry_reference import reference_metrics, simplex_etf

from ncsweep.geometry import (
    METRIC_NAMES,
    PROTOTYPE_METRICS,
    ClassStats,
    NCCAgreement,
    collapse_metrics,
    effective_rank,
    effective_rank_from_spectrum,
    mir_at_collapse,
    nc_scores,
)


def _metrics(h, y, k, w=None, logits=None, batch=37, **kw):
    h, y = torch.as_tensor(h), torch.as_tensor(y)
    stats = ClassStats(k, h.shape[1], **kw)
    for i in range(0, len(y), batch):
        stats.update(h[i : i + batch], y[i : i + batch])
    agreement = None
    if logits is not None:
        agreement = NCCAgreement(stats)
        for i in range(0, len(y), batch):
            agreement.update(
                h[i : i + batch], y[i : i + batch], torch.as_tensor(logits[i : i + batch])
            )
    w = None if w is None else torch.as_tensor(w)
    return collapse_metrics(stats, w, agreement)


@pytest.mark.parametrize(
    "k,d,n,empty,offset",
    [
        (5, 8, 300, [], 0.0),
        (7, 12, 120, [3], 0.0),
        (4, 16, 200, [], 3.0),
        (12, 6, 240, [0, 11], 0.5),
        (6, 64, 30, [], 1.0),  # n_c ~ 5 << D: low-rank spectrum path
    ],
)
# kept rows (the default: projections and per-class Grams), moments only, and rows kept
# until 100 rows overflow the budget mid-stream (then folded into the moments)
@pytest.mark.parametrize("rows", ["kept", "moments", "spilled"])
def test_every_raw_metric_equals_the_dense_reference(k, d, n, empty, offset, rows):
    rng = np.random.default_rng(k * d)
    labels = np.array([c for c in range(k) if c not in empty])
    y = rng.choice(labels, size=n)
    y[: len(labels)] = labels  # every non-empty class has at least one sample
    means = 2 * rng.standard_normal((k, d)) + offset
    h = means[y] + rng.standard_normal((n, d)) * rng.uniform(0.3, 1.5, size=(k, 1))[y]
    w = rng.standard_normal((k, d))
    logits = h @ w.T + 0.5 * rng.standard_normal((n, k))
    budget = {"kept": 2**26, "moments": 0, "spilled": 100 * d * 16}[rows]
    got = _metrics(h, y, k, w=w, logits=logits, keep_rows_bytes=budget)
    want = reference_metrics(h, y, k, w=w, logits=logits)
    assert set(got) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), name
    assert got.info.empty_classes == empty


def test_prototype_and_agreement_metrics_are_absent_not_zero():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    h = rng.standard_normal((60, 5))
    got = _metrics(h, y, 3)
    assert set(got) == set(METRIC_NAMES) - PROTOTYPE_METRICS - {"ncc_mismatch"}
    assert set(got.info.absent) == PROTOTYPE_METRICS | {"ncc_mismatch"}


def test_a_square_in_2d_is_not_an_etf_although_its_mean_cosine_is():
    # Four centred means on a square: cosines 0 (x4) and -1 (x2), mean -1/3 = -1/(K-1).
    square = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    y = np.repeat(np.arange(4), 5)
    h = square[y] + 1e-3 * np.random.default_rng(1).standard_normal((20, 2))
    got = _metrics(h, y, 4)
    assert got["equiangular"] == pytest.approx(math.sqrt(2) / 3, rel=1e-3)
    assert got["max_angle"] == pytest.approx(4 / 9, rel=1e-3)
    scores = nc_scores(got, 4)
    assert scores["equiangular"] < 60 and scores["max_angle"] < 70


def test_norms_one_two_one_are_not_equinorm():
    # centred means (-1,0), (2,0), (-1,0): norms [1, 2, 1], zero signed deviation from their mean norm
    centred = np.array([[-1.0, 0], [2, 0], [-1, 0]])
    y = np.repeat(np.arange(3), 4)
    h = centred[y] + 1e-4 * np.random.default_rng(2).standard_normal((12, 2))
    got = _metrics(h, y, 3)
    assert got["equinorm"] == pytest.approx(math.sqrt(2 / 9) / (4 / 3), rel=1e-3)
    assert nc_scores(got, 3)["equinorm"] < 80


def test_near_exact_simplex_etf_scores_at_least_99_9_everywhere():
    k, d, per = 10, 32, 40
    rng = np.random.default_rng(3)
    etf = simplex_etf(k, d, rng)
    y = np.repeat(np.arange(k), per)
    # rank-one noise per class: the intra-class erank (scale-free) is exactly 1
    direction = rng.standard_normal((k, d))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    h = etf[y] + 1e-4 * rng.standard_normal((k * per, 1)) * direction[y]
    w = etf.copy()
    logits = h @ w.T
    got = _metrics(h, y, k, w=w, logits=logits)
    scores = nc_scores(got, k)
    assert set(scores) == set(METRIC_NAMES)
    for name, score in scores.items():
        assert score >= 99.9, (name, got[name], score)
    assert got["erank_inter"] == pytest.approx(k - 1, rel=1e-6)
    assert got["mir"] == pytest.approx(mir_at_collapse(k), rel=1e-6)


def test_nc1_survives_the_float32_rank_trap():
    # Strong collapse in float32: Sigma_B has rank K-1 in D >> K; numpy's pinv of a float32
    # D x D Sigma_B keeps noise eigenvalues and is off by orders of magnitude, ours is not.
    k, d, per = 10, 256, 30
    rng = np.random.default_rng(4)
    means = simplex_etf(k, d, rng) + 0.3  # off-centre: the global mean is not zero
    y = np.repeat(np.arange(k), per)
    h32 = (means[y] + 1e-4 * rng.standard_normal((k * per, d))).astype(np.float32)
    got = _metrics(h32, y, k, batch=64)
    h = h32.astype(np.float64)
    mu = np.stack([h[y == c].mean(0) for c in range(k)])
    mbar = mu - mu.mean(0)
    sigma_w = sum(np.outer(x - mu[c], x - mu[c]) for x, c in zip(h, y, strict=True)) / len(y)
    u, s, vt = np.linalg.svd(mbar, full_matrices=False)
    pinv_b = k * vt[: k - 1].T @ np.diag(1 / s[: k - 1] ** 2) @ vt[: k - 1]
    brute = np.trace(sigma_w @ pinv_b) / k
    assert got["nc1"] == pytest.approx(brute, rel=1e-6)
    # what public code does: float32 Sigma_B from float32 means, numpy pinv (rcond 1e-15)
    mu32 = np.stack([h32[y == c].mean(0) for c in range(k)])
    sigma_b32 = (mu32 - mu32.mean(0)).T @ (mu32 - mu32.mean(0)) / k
    naive = np.trace(sigma_w.astype(np.float32) @ np.linalg.pinv(sigma_b32)) / k
    assert abs(naive - brute) > 1e3 * brute


def _near_collapse(seed: int = 0):
    """Every class at its mean, far from the origin (‖μ_c‖ ~ 1e3), plus 1e-9 noise:
    within-class variances ~1e-18 against ‖μ_c‖² ~ 1e6, below the uncentred moments'
    cancellation floor ε·‖μ_c‖² ~ 1e-10."""
    k, d, per = 10, 32, 20
    rng = np.random.default_rng(seed)
    means = 1e3 * (simplex_etf(k, d, rng) + rng.standard_normal(d))
    y = np.repeat(np.arange(k), per)
    return means[y] + 1e-9 * rng.standard_normal((k * per, d)), y, k


DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    ),
]


@pytest.mark.parametrize("device", DEVICES)
def test_nc1_and_cdnv_from_kept_rows_are_exact_near_collapse(device):
    h, y, k = _near_collapse()
    stats = ClassStats(k, h.shape[1]).update(torch.as_tensor(h, device=device), torch.tensor(y))
    assert stats.kept_rows() is not None
    got = collapse_metrics(stats)
    want = reference_metrics(h, y, k)
    for name in ("nc1", "cdnv"):
        assert want[name] > 0
        assert got[name] == pytest.approx(want[name], rel=1e-6, abs=0), name


def test_nc1_and_cdnv_from_moments_are_clamped_at_zero_near_collapse():
    h, y, k = _near_collapse()
    stats = ClassStats(k, h.shape[1], keep_rows_bytes=0).update(torch.as_tensor(h), torch.tensor(y))
    assert stats.kept_rows() is None
    # the premise: the uncentred moments put negative within-class variance along some
    # between-class direction (this is what gave nc1 = -3.2e-16 before the clamp) ...
    centred = h - np.stack([h[y == c].mean(0) for c in range(k)])[y]
    means = stats.class_means().numpy()
    _, _, vh = np.linalg.svd(means - means.mean(0), full_matrices=False)
    along = np.einsum("ij,jk,ik->i", vh[: k - 1], stats.within_scatter().numpy(), vh[: k - 1])
    assert along.min() < 0 < float(((centred @ vh[: k - 1].T) ** 2).sum(0).min())
    # ... and no variance is negative in the metrics
    got = collapse_metrics(stats)
    assert got["nc1"] >= 0 and got["cdnv"] >= 0
    assert math.isfinite(got["nc1"]) and math.isfinite(got["cdnv"])


@pytest.mark.parametrize(
    "spectrum,expected",
    [
        ([1.0, 0, 0, 0], 1.0),
        ([2.0, 2, 2, 0], 3.0),
        ([5.0, 5, 5, 5, 5], 5.0),
        ([0.0, 0, 0], 0.0),
        ([3.0, 1.0], math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))),
    ],
)
def test_effective_rank_on_known_spectra(spectrum, expected):
    lam = torch.tensor(spectrum, dtype=torch.float64)
    assert float(effective_rank_from_spectrum(lam)) == pytest.approx(expected, rel=1e-12)
    q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), dtype=torch.float64))
    assert float(effective_rank(q @ torch.diag(lam) @ q.T)) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


def test_ncc_mismatch_counts_disagreements_with_the_nearest_centre():
    # class means 0 and 10 on a line; the classifier says "class 0" for everything
    y = torch.tensor([0, 0, 1, 1, 1])
    h = torch.tensor([[0.0], [1.0], [9.0], [10.0], [11.0]])
    stats = ClassStats(2, 1).update(h, y)
    agreement = NCCAgreement(stats)
    agreement.update(h, y, torch.tensor([[1.0, 0.0]] * 5))
    assert agreement.mismatch == pytest.approx(3 / 5)
    assert agreement.ncc_accuracy == 1.0
    assert agreement.classifier_accuracy == pytest.approx(2 / 5)
    only_ncc = NCCAgreement(stats).update(h, y)
    metrics = collapse_metrics(stats, agreement=only_ncc)
    assert "ncc_mismatch" not in metrics and metrics.info.ncc_accuracy == 1.0


def test_metrics_need_two_non_empty_classes():
    stats = ClassStats(3, 2).update(torch.ones(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"at least 2 classes.*empty classes: \[1, 2\]"):
        collapse_metrics(stats)


def test_prototypes_of_the_wrong_shape_are_rejected():
    stats = ClassStats(3, 2).update(torch.randn(6, 2), torch.arange(6) % 3)
    with pytest.raises(ValueError, match=r"\[3, 2\]"):
        collapse_metrics(stats, torch.randn(2, 3))
