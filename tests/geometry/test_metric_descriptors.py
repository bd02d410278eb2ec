"""Each NC metric is described once; names, directions, scores and the README table derive."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ncsweep import metric_keys as keys
from ncsweep.geometry import METRIC_DIRECTIONS, METRIC_NAMES, nc_scores
from ncsweep.geometry.descriptors import METRICS, metric_info, paper_five, score_table
from ncsweep.geometry.metrics import mir_at_collapse
from ncsweep.sweep.leaderboard import PAPER_FIVE

README = Path(__file__).resolve().parents[2] / "README.md"
K = 10


def test_the_readme_score_table_is_the_generated_one():
    text = README.read_text()
    start = text.index("| metric | docs/paper.md |")
    end = text.index("\n<!-- end of generated table -->", start)
    assert text[start:end] == score_table()


def test_names_directions_and_the_paper_five_come_from_the_descriptors():
    assert METRIC_NAMES == tuple(m.name for m in METRICS)
    assert METRIC_DIRECTIONS == {m.name: m.direction for m in METRICS}
    assert PAPER_FIVE == paper_five() and len(PAPER_FIVE) == 5
    assert all(m.paper and m.meaning and m.bound for m in METRICS)


def _collapsed(name: str) -> float:
    return {"erank_inter": K - 1, "erank_proto": K - 1, "erank_intra": 1.0}.get(
        name, mir_at_collapse(K) if name == "mir" else 0.0
    )


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_every_metric_scores_100_at_its_collapse_value(name):
    assert nc_scores({name: _collapsed(name)}, K)[name] == pytest.approx(100.0)


@pytest.mark.parametrize("info", [m for m in METRICS if m.default_bound is not None])
def test_a_lower_is_better_metric_scores_0_at_its_default_bound(info):
    bound = info.default_bound(K)
    assert nc_scores({info.name: bound}, K)[info.name] == pytest.approx(0.0, abs=1e-9)
    assert metric_info(info.name).score(bound / 2, K, None) == pytest.approx(50.0)


def test_the_mean_nc_score_is_one_function_over_the_score_keys():
    metrics = {keys.NC_SCORE + "nc1": 90.0, keys.NC_SCORE + "hdr": 70.0, keys.VAL_ACC1: 0.5}
    assert keys.mean_nc_score(metrics) == 80.0
    assert keys.mean_nc_score({keys.VAL_ACC1: 0.5}) is None
    assert math.isclose(keys.mean_nc_score(keys.prefixed(keys.NC_SCORE, {"a": 1.0})), 1.0)
