"""The study table's family order is the loss registry's: a family registered after the
paper's five gets its column after them instead of being dropped."""

from __future__ import annotations

import pytest
from torch import nn

from ncsweep.geometry.metrics import METRIC_NAMES
from ncsweep.losses import LossInfo, register_loss, unregister_loss
from ncsweep.runtime.evaluation_runs import TAG_SEED, TAG_STUDY, TAG_VARIANT
from ncsweep.study.table import collect_study, family_order, render_markdown
from ncsweep.tracking import TAG_FAMILY, TAG_KIND, MetricPoint, ensure_experiment, open_store
from ncsweep.tracking.memory_store import drop_memory_store

PAPER = ["ce", "normface", "ntce", "nonl", "scl"]


@pytest.fixture
def sixth_family():
    """A family registered for this test only (``toyfam``), unregistered afterwards."""

    class ToyFamLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()

        def forward(self, features, labels, prototypes=None, bias=None):
            return features.sum() * 0

    register_loss("toyfam", LossInfo("a sixth family for the table test"))(ToyFamLoss)
    yield "toyfam"
    unregister_loss("toyfam")


def _runs(*families: str) -> list[dict]:
    return [{"family": f} for f in families]


def test_the_paper_families_keep_the_papers_order():
    assert family_order(_runs("scl", "nonl", "ce", "ntce", "normface", "ce")) == PAPER


def test_a_sixth_registered_family_appears_after_the_five_in_registration_order(sixth_family):
    assert family_order(_runs(sixth_family, "scl", "ce")) == ["ce", "scl", sixth_family]
    assert family_order(_runs(sixth_family, *PAPER)) == [*PAPER, sixth_family]


def test_the_rendered_table_has_a_row_for_the_sixth_family(sixth_family):
    fams = family_order(_runs(sixth_family, "ce"))
    empty = {"mean": None, "std": None}
    data = {
        "study": "s",
        "runs": 2,
        "finished": 2,
        "seeds": [0],
        "families": fams,
        "accuracy": {f: {"mean": 0.9, "std": None, "n": 1} for f in fams},
        "nc": {
            f: {m: {"score": None, "steps": None, "reached": 0, "n": 0} for m in METRIC_NAMES}
            for f in fams
        },
        "speed": {},
        "probes": {f: {h: empty for h in ("prototypes", "probe", "normprobe")} for f in fams},
        "longtail": {},
        "corruption": {
            f: dict.fromkeys(("clean_error", "mean_error", "mce", "relative_mce")) for f in fams
        },
        "transfer": {f: {} for f in fams},
    }
    text = render_markdown(data)
    assert f"| {sixth_family} | 90.00 |" in text


def test_a_family_this_process_never_registered_is_kept_last_not_dropped():
    assert family_order(_runs("arcface", "ce", None)) == ["ce", "arcface"]


def test_collect_study_reads_the_suites_declared_columns_from_the_store():
    """The table's probe, long-tail and corruption columns are the ones the suite registry
    declares, read from the study's runs in a tracking store (here the in-memory one)."""
    uri = "memory://study-table"
    try:
        experiment = ensure_experiment(uri, "study")
        store = open_store(uri)
        for family, acc in (("ce", 0.5), ("nonl", 0.7)):
            for variant in ("balanced", "lt10"):
                tags = {TAG_STUDY: "s", TAG_KIND: "train", TAG_FAMILY: family}
                tags.update({TAG_SEED: "0", TAG_VARIANT: variant})
                run_id = store.create_run(experiment, f"{family}-{variant}", tags).run_id
                metrics = {"val/acc1": acc, "eval/probes/acc/normprobe": acc + 0.01}
                metrics.update({"eval/longtail/acc/few": acc - 0.1, "eval/corruption/mce": 80.0})
                store.log_batch(run_id, [MetricPoint(k, v, 0, 1) for k, v in metrics.items()])
                for step, value in ((10, 1.0), (20, 0.5 if family == "ce" else 0.1)):
                    store.log_batch(run_id, [MetricPoint("nc/nc1", value, step, step)])
                store.end_run(run_id, "FINISHED")
        data = collect_study(uri, experiment, "s")
    finally:
        drop_memory_store(uri)
    assert data["families"] == ["ce", "nonl"] and data["finished"] == 4
    assert set(data["probes"]["nonl"]) == {"prototypes", "probe", "normprobe"}
    assert data["probes"]["nonl"]["normprobe"]["mean"] == pytest.approx(0.71)
    assert data["probes"]["nonl"]["probe"]["mean"] is None
    longtail = data["longtail"]["lt10"]["nonl"]
    assert {"overall", "many", "medium", "few", "classes_few"} <= set(longtail)
    assert longtail["few"] == pytest.approx(0.6)
    # compared with CE of the same seed and variant: 0.6 - 0.4 accuracy = 20 points
    assert longtail["gain_points_few"] == pytest.approx(20.0)
    assert list(data["corruption"]["nonl"]) == ["clean_error", "mean_error", "mce", "relative_mce"]
    assert data["corruption"]["nonl"]["mce"] == 80.0
    # nonl reaches CE's final nc1 (0.5) at step 20 of 20
    assert data["speed"]["nonl"]["nc1"]["fraction"] == pytest.approx(1.0)
    assert "| nonl | 70.00 |" in render_markdown(data)
