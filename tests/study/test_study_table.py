"""The study table's family order is the loss registry's: a family registered after the
paper's five gets its column after them instead of being dropped."""

from __future__ import annotations

import pytest
from torch import nn

from ncsweep.geometry.metrics import METRIC_NAMES
from ncsweep.losses import LossInfo, register_loss, unregister_loss
from ncsweep.study.table import family_order, render_markdown

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
