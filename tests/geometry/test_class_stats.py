import numpy as np
import pytest
import torch
from _geometry_reference import erank

from ncsweep.geometry import ClassStats, collapse_metrics

K, D = 6, 10


def _data(n=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, K, (n,), generator=gen)
    h = 3 * torch.randn(K, D, generator=gen)[y] + torch.randn(n, D, generator=gen)
    return h, y


def _assert_same_state(a, b, rel=1e-12):
    for name in ("counts", "sum_h", "sum_u", "sqnorm_h", "sqnorm_u", "moment_h", "moment_u"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=rel, atol=1e-10)


def test_merge_of_four_shards_equals_one_pass():
    h, y = _data()
    whole = ClassStats(K, D).update(h, y)
    shards = [ClassStats(K, D).update(h[i::4], y[i::4]) for i in range(4)]
    merged = shards[0]
    for shard in shards[1:]:
        assert merged.merge(shard) is merged
    _assert_same_state(merged, whole)
    w = torch.randn(K, D)
    got, want = collapse_metrics(merged, w), collapse_metrics(whole, w)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-10), name


def test_staging_does_not_change_the_result():
    h, y = _data()
    staged = ClassStats(K, D, stage_bytes=1)  # fold in every batch immediately
    for i in range(0, len(y), 7):
        staged.update(h[i : i + 7], y[i : i + 7])
    _assert_same_state(staged, ClassStats(K, D).update(h, y))


def test_per_class_staging_and_reads_mid_stream_do_not_change_the_result():
    # R = 16 rows per class stage, a 200-row chunk stage: stages fill and fold many times, a
    # class block of >= R rows in a chunk skips its stage, a batch bigger than a chunk
    # is folded without the chunk stage, and reads in between flush partial stages.
    h, y = _data(n=900)
    stats = ClassStats(K, D, stage_bytes=200 * 8 * D, class_stage_bytes=0)
    sizes = [3, 120, 1, 7, 64, 250, 5]
    start, i = 0, 0
    while start < len(y):
        stop = min(start + sizes[i % len(sizes)], len(y))
        stats.update(h[start:stop], y[start:stop])
        if i % 4 == 3:
            stats.moment_u  # noqa: B018 (a read flushes the stages)
        start, i = stop, i + 1
    _assert_same_state(stats, ClassStats(K, D).update(h, y))


def test_any_float_dtype_accumulates_in_float64():
    h, y = _data()
    stats = ClassStats(K, D).update(h.to(torch.bfloat16), y)
    assert stats.sum_h.dtype == torch.float64
    torch.testing.assert_close(
        stats.class_means(), ClassStats(K, D).update(h.to(torch.bfloat16).double(), y).class_means()
    )


def test_class_means_of_raw_and_unit_features():
    h, y = _data()
    stats = ClassStats(K, D).update(h, y)
    u = torch.nn.functional.normalize(h.double(), dim=1)
    for c in range(K):
        torch.testing.assert_close(stats.class_means()[c], h[y == c].double().mean(0))
        torch.testing.assert_close(
            stats.class_means(normalized_features=True)[c], u[y == c].mean(0)
        )


def test_label_outside_the_range_names_the_range():
    stats = ClassStats(K, D)
    with pytest.raises(ValueError, match=r"\[0, 6\).*\[0, 6\]"):
        stats.update(torch.randn(3, D), torch.tensor([0, 1, 6]))
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        stats.update(torch.randn(3, D), torch.tensor([0, -1, 2]))


def test_dimension_mismatch_names_the_expected_shape():
    stats = ClassStats(K, D)
    with pytest.raises(ValueError, match=r"\[B, 10\].*\[3, 11\]"):
        stats.update(torch.randn(3, D + 1), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="3 entries"):
        stats.update(torch.randn(3, D), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="K=6, D=11"):
        stats.merge(ClassStats(K, D + 1))


def test_a_class_without_samples_is_reported_and_excluded():
    h, y = _data()
    keep = y != 2
    stats = ClassStats(K, D).update(h[keep], y[keep])
    assert stats.empty_classes == [2]
    assert torch.isnan(stats.class_means()[2]).all()
    metrics = collapse_metrics(stats, torch.randn(K, D))
    assert metrics.info.empty_classes == [2]
    assert 2 not in metrics.info.erank_intra_classes
    assert all(np.isfinite(v) for v in metrics.values())


def test_tiny_scatter_budget_keeps_a_seeded_subset_and_says_so():
    h, y = _data(n=600)
    budget = 2 * D * D * 8  # room for two per-class scatters
    stats = ClassStats(K, D, scatter_budget_bytes=budget, seed=3).update(h, y)
    assert stats.scatter_subset and len(stats.scatter_classes) == 2
    assert (
        stats.scatter_classes
        == ClassStats(K, D, scatter_budget_bytes=budget, seed=3).scatter_classes
    )
    assert stats.moment_u.numel() * 8 <= budget
    metrics = collapse_metrics(stats)
    assert metrics.info.erank_intra_subset
    assert metrics.info.erank_intra_classes == stats.scatter_classes
    u = torch.nn.functional.normalize(h.double(), dim=1).numpy()
    want = np.mean([erank(np.cov(u[(y == c).numpy()].T)) for c in stats.scatter_classes])
    assert metrics["erank_intra"] == pytest.approx(want, rel=1e-9)
    with pytest.raises(ValueError, match="subsets"):
        stats.merge(ClassStats(K, D, scatter_budget_bytes=budget, seed=4))


def test_zero_budget_makes_intra_erank_absent_with_a_reason():
    h, y = _data()
    metrics = collapse_metrics(ClassStats(K, D, scatter_budget_bytes=0).update(h, y))
    assert "erank_intra" not in metrics
    assert "scatter_budget_bytes=0" in metrics.info.absent["erank_intra"]


def test_all_reduce_without_a_process_group_is_a_no_op():
    h, y = _data()
    stats = ClassStats(K, D).update(h, y)
    before = stats.moment_h.clone()
    assert stats.all_reduce() is stats
    torch.testing.assert_close(stats.moment_h, before)


def test_kept_rows_are_folded_into_the_same_state_when_the_moments_are_needed():
    h, y = _data(n=500)
    kept = ClassStats(K, D)
    for i in range(0, len(y), 33):
        kept.update(h[i : i + 33], y[i : i + 33])
    rows = kept.kept_rows()
    assert rows is not None
    torch.testing.assert_close(rows.h, h.double())
    torch.testing.assert_close(rows.u, torch.nn.functional.normalize(h.double(), dim=1))
    assert torch.equal(rows.y, y)
    streamed = ClassStats(K, D, keep_rows_bytes=0).update(h, y)
    assert streamed.kept_rows() is None
    _assert_same_state(kept, streamed)  # reading the moments folds the rows in
    assert kept.kept_rows() is None
    kept.update(h[:50], y[:50])  # and later batches stream
    _assert_same_state(kept, streamed.update(h[:50], y[:50]))


def test_rows_beyond_the_budget_leave_row_mode():
    h, y = _data(n=400)
    stats = ClassStats(K, D, keep_rows_bytes=150 * D * 16)
    stats.update(h[:150], y[:150])
    assert stats.kept_rows() is not None
    stats.update(h[150:151], y[150:151])
    assert stats.kept_rows() is None
    stats.update(h[151:], y[151:])
    _assert_same_state(stats, ClassStats(K, D, keep_rows_bytes=0).update(h, y))
    assert stats.reset().kept_rows() is not None  # a reset starts keeping rows again
