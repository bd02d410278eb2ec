"""The confirmation stage's statistics, read from synthetic sweeps written into the in-memory
tracking store the way a sweep leaves them in MLflow: search trials, then each family's
top configs re-run over seeds (``ncsweep.stage=confirm``). Values are chosen, so winners,
gaps and verdicts are known (no Ray, no MLflow server)."""

from __future__ import annotations

import ast
import json
import math
import uuid
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from ncsweep.report.data import load_sweep
from ncsweep.report.kinds import PANEL_KINDS
from ncsweep.report.page import PageContext
from ncsweep.report.panels.confirmation import interval_figure, pairwise_rows, tuning_figure
from ncsweep.report.spec import PanelSpec
from ncsweep.sweep.confirmation import (
    STAGE_CONFIRM,
    TAG_CONFIRMS,
    TAG_SEED,
    TAG_STAGE,
    confirmed_leaderboard,
    confirmed_results,
    n_startup_trials,
    print_confirmed,
    results_from_json,
    results_to_json,
)
from ncsweep.sweep.export import export_best
from ncsweep.sweep.leaderboard import PAPER_FIVE, collect_rows
from ncsweep.tracking import (
    PARENT_TAG,
    TAG_FAMILY,
    TAG_KIND,
    TAG_ORPHANED,
    TAG_SWEEP,
    TAG_TRIAL,
    MetricPoint,
    ensure_experiment,
    log_params,
    open_store,
    start_run,
)
from ncsweep.tracking.memory_store import drop_memory_store

TOTAL = 100
SEEDS = (0, 1, 2, 3, 4)
#: The NC scores a confirmation run logs: the paper's five, and one more.
SCORES = (*PAPER_FIVE, "nc1")
# per-seed wobble that averages to zero: a family shifted by a constant from another has a
# paired difference of exactly that constant
WOBBLE = (0.004, -0.003, 0.001, -0.004, 0.002)


@pytest.fixture
def uri():
    name = f"memory://confirm-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


class Sweep:
    """Writes a sweep's parent, search trials and confirmation runs into the store."""

    def __init__(self, uri: str, name: str = "cs", **params):
        self.uri, self.name = uri, name
        self.store = open_store(uri)
        self.experiment = ensure_experiment(uri, name)
        self.parent = start_run(uri, self.experiment, name, {TAG_SWEEP: name, TAG_KIND: "sweep"})
        settings = {"objective": "accuracy", "nc_metric": "mean", "trials": 3, "gpus_per_trial": 0}
        log_params(uri, self.parent, {**settings, **params})
        self.clock = 1_000_000

    def _run(self, name: str, tags: dict, metrics: dict, hours: float, status: str) -> str:
        self.clock += 1000
        tags = {TAG_SWEEP: self.name, TAG_KIND: "train", PARENT_TAG: self.parent, **tags}
        run_id = self.store.create_run(self.experiment, name, tags, start_ms=self.clock).run_id
        metrics = {"step": TOTAL, "total_steps": TOTAL, **metrics}
        points = [MetricPoint(k, float(v), 0, TOTAL) for k, v in metrics.items()]
        self.store.log_batch(run_id, metrics=points)
        self.store.end_run(run_id, status, end_ms=self.clock + int(hours * 3.6e6))
        return run_id

    def trial(self, family: str, trial: str, val: float, *, hours=1.0, status="FINISHED"):
        """A search trial (no stage tag, like the runs of sweeps before confirmation)."""
        metrics = {"val/acc1": val, "nc_score/nc1": 90.0}
        run_id = self._run(trial, {TAG_FAMILY: family, TAG_TRIAL: trial}, metrics, hours, status)
        spec = {"loss": {"name": family}, "run": {"name": trial, "storage_path": "/tmp/x"}}
        self.store.log_text(run_id, yaml.safe_dump(spec), "spec.yaml")
        return run_id

    def confirm(
        self,
        family: str,
        search_run: str,
        val: float,
        test: float,
        steps: float,
        seeds=SEEDS,
        wobble=WOBBLE,
        status="FINISHED",
    ) -> list[str]:
        """Runs of ``search_run``'s config, one per seed: mean val ``val``, test ``test``,
        NC steps ``steps`` (every NC metric reaches the threshold then)."""
        ids = []
        for seed, w in zip(seeds, wobble, strict=False):
            tags = {
                TAG_FAMILY: family,
                TAG_STAGE: STAGE_CONFIRM,
                TAG_CONFIRMS: search_run,
                TAG_SEED: str(seed),
                TAG_TRIAL: f"confirm_{search_run[:6]}_{seed}",
            }
            metrics = {"val/acc1": val + w, "test/acc1": test + w, "test/acc5": 0.99}
            for name in SCORES:
                metrics[f"nc_score/{name}"] = 96.0 + w * 100
                metrics[f"nc_iters/{name}"] = steps + w * 1000
            ids.append(self._run(f"confirm {seed}", tags, metrics, 1.0, status))
        return ids


def _three_families(uri: str) -> tuple[Sweep, dict[str, str]]:
    """ce, nonl, ntce: nonl 2 points above ce on test and 10 steps faster; ntce equal to ce.
    In nonl the search-best (val 0.95) confirms at 0.86, below its runner-up (0.90 on val,
    lower on test): the winner is the runner-up, chosen on val, and the curse is 0.09."""
    sweep = Sweep(uri)
    ids = {
        "ce_best": sweep.trial("ce", "ce_1", 0.91),
        "ce_2": sweep.trial("ce", "ce_2", 0.85),
        "nonl_best": sweep.trial("nonl", "nonl_1", 0.95),
        "nonl_2": sweep.trial("nonl", "nonl_2", 0.92),
        "ntce_best": sweep.trial("ntce", "ntce_1", 0.90),
    }
    sweep.confirm("ce", ids["ce_best"], val=0.88, test=0.80, steps=60)
    sweep.confirm("ce", ids["ce_2"], val=0.84, test=0.82, steps=60)
    sweep.confirm("nonl", ids["nonl_best"], val=0.86, test=0.85, steps=50)
    sweep.confirm("nonl", ids["nonl_2"], val=0.90, test=0.82, steps=50)
    sweep.confirm("ntce", ids["ntce_best"], val=0.87, test=0.80, steps=60)
    return sweep, ids


def test_the_winner_is_the_best_validation_mean_not_the_best_test_mean(uri):
    _, ids = _three_families(uri)
    results = confirmed_results(uri, "cs")
    assert list(results.families) == ["ce", "nonl", "ntce"]
    nonl = results.families["nonl"]
    # nonl_1 has the better test mean (0.85) but the lower validation mean (0.86 < 0.90)
    assert nonl.winner.search_run_id == ids["nonl_2"] and nonl.winner.trial_id == "nonl_2"
    assert [c.trial_id for c in nonl.configs] == ["nonl_2", "nonl_1"]
    assert nonl.winner.selection.mean == pytest.approx(0.90)
    assert nonl.test_acc1.mean == pytest.approx(0.82)
    assert results.families["ce"].winner.search_run_id == ids["ce_best"]
    assert nonl.winner.seeds == list(SEEDS)
    # interval of the test mean: around it, from 5 seeds
    assert nonl.test_acc1.low < 0.82 < nonl.test_acc1.high and nonl.test_acc1.n == 5
    assert nonl.nc_steps.mean == pytest.approx(50.0)
    assert list(nonl.nc_scores) == [*PAPER_FIVE, "nc1"]  # the paper's five first
    assert len(PAPER_FIVE) == 5 and nonl.nc_scores["nc1"].mean == pytest.approx(96.0)


def test_finished_runs_tagged_orphaned_are_kept_but_count_nowhere(uri):
    # what drop_orphans leaves of runs a resumed driver's Tune state lacks: FINISHED, tagged
    sweep, ids = _three_families(uri)
    stray = sweep.trial("ce", "ce_9", 0.99)  # better than every ce trial on val
    strays = sweep.confirm("ce", stray, val=0.99, test=0.99, steps=10)
    for run_id in (stray, *strays):
        sweep.store.set_tag(run_id, TAG_ORPHANED, "finished; not in Tune's state")
    rows = collect_rows(uri, "cs")
    assert stray not in {r.run_id for r in rows} and len(rows) == 5
    ce = confirmed_results(uri, "cs").families["ce"]
    assert ce.winner.search_run_id == ids["ce_best"] and ce.search_best_run_id == ids["ce_best"]
    assert stray not in {c.search_run_id for c in ce.configs}
    report = load_sweep(uri, "cs")
    assert {t.row.run_id for t in report.trials} == {r.run_id for r in rows}
    assert report.best["ce"].row.run_id == ids["ce_best"]
    assert sweep.store.get_run(stray).status == "FINISHED"  # kept


def test_winners_curse_is_the_search_best_value_minus_its_confirmed_mean(uri):
    _, ids = _three_families(uri)
    results = confirmed_results(uri, "cs")
    nonl = results.families["nonl"]
    assert nonl.search_best_run_id == ids["nonl_best"] and nonl.search_best_value == 0.95
    assert nonl.winners_curse == pytest.approx(0.95 - 0.86)
    assert results.families["ce"].winners_curse == pytest.approx(0.91 - 0.88)
    assert results.families["ntce"].winners_curse == pytest.approx(0.90 - 0.87)


def test_verdicts_against_ce_better_and_no_detectable_difference(uri):
    sweep = Sweep(uri)
    ce = sweep.trial("ce", "ce_1", 0.9)
    better = sweep.trial("nonl", "nonl_1", 0.9)
    same = sweep.trial("ntce", "ntce_1", 0.9)
    sweep.confirm("ce", ce, val=0.88, test=0.80, steps=60)
    # 2 points above ce with tiny noise on top of ce's (paired by seed)
    tiny = [w + d for w, d in zip(WOBBLE, (0.0005, -0.0005, 0.0003, -0.0002, 0.0001), strict=True)]
    sweep.confirm("nonl", better, val=0.9, test=0.82, steps=50, wobble=tiny)
    sweep.confirm("ntce", same, val=0.88, test=0.80, steps=60)
    results = confirmed_results(uri, "cs")

    against = {(c.a, c.metric): c for c in results.against("ce")}
    acc = against[("nonl", "test/acc1")]
    assert acc.paired and acc.seeds == list(SEEDS)
    assert acc.difference.mean == pytest.approx(0.02, abs=1e-4) and acc.difference.low > 0.015
    assert acc.probability.mean == 1.0
    assert acc.verdict.startswith("nonl vs ce: test/acc1 +2.0 pts")
    assert acc.verdict.endswith(": nonl better")
    steps = against[("nonl", "objective/nc_steps")]
    assert steps.difference.mean == pytest.approx(-10.0, abs=0.1) and steps.verdict.endswith(
        "nonl better"
    )
    for metric in ("test/acc1", "objective/nc_steps"):
        assert against[("ntce", metric)].verdict.endswith(": no detectable difference")
        assert against[("ntce", metric)].difference.mean == pytest.approx(0.0, abs=1e-12)
    # every pair once: ce-nonl, ce-ntce, nonl-ntce, two metrics each
    assert {(c.a, c.b) for c in results.comparisons} == {
        ("nonl", "ce"), ("ntce", "ce"), ("ntce", "nonl")
    }  # fmt: skip
    assert len(results.comparisons) == 6
    pair = next(
        c for c in results.comparisons if (c.a, c.b, c.metric) == ("ntce", "nonl", "test/acc1")
    )
    assert pair.verdict.endswith("ntce worse")


def test_runs_whose_seeds_differ_are_compared_unpaired(uri):
    sweep = Sweep(uri)
    ce = sweep.trial("ce", "ce_1", 0.9)
    nonl = sweep.trial("nonl", "nonl_1", 0.9)
    sweep.confirm("ce", ce, val=0.88, test=0.80, steps=60, seeds=(0, 1, 2, 3, 4))
    sweep.confirm("nonl", nonl, val=0.9, test=0.85, steps=50, seeds=(5, 6, 7, 8, 9))
    comparison = confirmed_results(uri, "cs").against("ce")[0]
    assert not comparison.paired and comparison.seeds == []
    assert comparison.difference.n == 10 and "unpaired" in comparison.difference.method
    console = Console(record=True, width=250)
    print_confirmed(console, confirmed_results(uri, "cs"))
    assert "nonl better (unpaired: the seeds differ)" in console.export_text()


def test_failed_confirmation_runs_are_counted_not_averaged(uri):
    sweep = Sweep(uri)
    ce = sweep.trial("ce", "ce_1", 0.9)
    sweep.confirm("ce", ce, val=0.88, test=0.80, steps=60, seeds=(0, 1, 2))
    sweep.confirm("ce", ce, val=0.10, test=0.10, steps=60, seeds=(3,), status="FAILED")
    winner = confirmed_results(uri, "cs").families["ce"].winner
    assert winner.seeds == [0, 1, 2] and winner.failed == 1
    assert winner.selection.mean == pytest.approx(0.88 + sum(WOBBLE[:3]) / 3)


def test_leaderboard_and_export_agree_on_each_familys_winner(uri, tmp_path):
    _, ids = _three_families(uri)
    results = confirmed_results(uri, "cs")
    table = confirmed_leaderboard(results)
    cells = {c.header: c._cells for c in table.columns}
    # ranked by the confirmed test mean: nonl (0.82) before ce and ntce (0.80, by name)
    assert cells["family"] == ["nonl", "ce", "ntce"]
    assert cells["confirmed winner"] == ["nonl_2", "ce_1", "ntce_1"]
    assert cells["search-best"] == ["nonl_1", "ce_1", "ntce_1"]
    assert cells["winner's curse"][0] == "+0.0900"
    assert cells["test/acc1 mean [95 %]"][0].startswith("0.8200 [")

    written = export_best(uri, "cs", collect_rows(uri, "cs"), tmp_path / "best", seed=7)
    exported = {p.stem: yaml.safe_load(p.read_text()) for p in written}
    for family, row in zip(cells["family"], cells["confirmed winner"], strict=True):
        document = exported[family]
        assert document["provenance"]["trial_id"] == row
        assert document["loss"] == {"name": family}  # the winner's own spec
    confirmation = exported["nonl"]["provenance"]["confirmation"]
    assert confirmation["seeds"] == list(SEEDS) and len(confirmation["run_ids"]) == 5
    assert confirmation["test/acc1"]["mean"] == pytest.approx(0.82)
    assert confirmation["test/acc1"]["low"] < 0.82 < confirmation["test/acc1"]["high"]
    assert confirmation["val/acc1"]["mean"] == pytest.approx(0.90)
    assert confirmation["winners_curse"]["gap"] == pytest.approx(0.09)
    assert confirmation["winners_curse"]["search_best_trial"] == "nonl_1"
    # still a `ncsweep train --config` input: the spec's keys plus provenance, nothing else
    assert set(exported["nonl"]) == {"loss", "run", "provenance"}


def test_print_confirmed_shows_the_table_and_the_verdicts_against_ce(uri):
    _three_families(uri)
    console = Console(record=True, width=250)
    print_confirmed(console, confirmed_results(uri, "cs"))
    text = console.export_text()
    assert "Confirmed leaderboard: cs" in text and "nonl_2" in text
    assert "nonl vs ce: test/acc1 +2.0 pts" in text and "ntce vs ce" in text
    assert "tuning curve, nonl:" in text


def test_json_round_trips_and_is_strict_json(uri):
    sweep, _ = _three_families(uri)
    lone = sweep.trial("scl", "scl_1", 0.7)
    sweep.confirm("scl", lone, val=0.7, test=0.7, steps=80, seeds=(0,))  # one run: std is NaN
    results = confirmed_results(uri, "cs")
    text = results_to_json(results)
    document = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert document["ranking"][0] == "nonl"
    assert document["families"]["scl"]["test_acc1"]["std"] is None
    back = results_from_json(text)
    assert results_to_json(back) == text
    assert back.families["nonl"].winner.trial_id == "nonl_2"
    assert math.isnan(back.families["scl"].test_acc1.std)
    assert back.against("ce")[0].verdict == results.against("ce")[0].verdict
    # one run a side is too few to tell, whatever the values
    scl = next(c for c in results.against("ce") if c.a == "scl" and c.metric == "test/acc1")
    assert scl.verdict.endswith("too few runs to tell")


def test_the_tuning_curve_uses_only_tpes_startup_trials(uri):
    sweep = Sweep(uri, trials=9)
    assert n_startup_trials(9) == 3
    # the first three by start time were sampled at random; TPE's later ones are better
    for i, val in enumerate((0.5, 0.7, 0.6, 0.9, 0.95, 0.97, 0.99, 0.98, 0.96)):
        sweep.trial("ce", f"ce_{i}", val, hours=0.5)
    tuning = confirmed_results(uri, "cs").tuning["ce"]
    assert tuning.trial_ids == ["ce_0", "ce_1", "ce_2"]
    assert "TPE's random start-up trials" in tuning.basis
    curve = tuning.curve
    assert curve["trials"] == [1.0, 2.0, 3.0]
    assert curve["expected"][0] == pytest.approx(0.6)  # the mean of the three
    assert max(curve["expected"]) <= 0.7
    # no GPUs: the cost is trial-hours, n x the mean duration
    assert tuning.cost_unit == "trial-hours"
    assert curve["cost"] == pytest.approx([0.5, 1.0, 1.5])


def test_a_random_sampler_uses_every_trial_and_gpu_hours(uri):
    sweep = Sweep(uri, trials=9, gpus_per_trial=2, **{"ncsweep.sampler": "random"})
    for i in range(6):
        sweep.trial("ce", f"ce_{i}", 0.5 + i / 100, hours=0.25)
    sweep.trial("ce", "ce_failed", 0.99, status="FAILED")
    tuning = confirmed_results(uri, "cs").tuning["ce"]
    assert tuning.trial_ids == [f"ce_{i}" for i in range(6)]
    assert tuning.basis.startswith("all 7 trials (random sampler)") and "1 without" in tuning.basis
    assert tuning.cost_unit == "GPU-hours"
    assert tuning.curve["cost"][0] == pytest.approx(0.5)  # 0.25 h x 2 GPUs


def test_a_warm_started_sweeps_first_trial_is_not_iid(uri):
    sweep = Sweep(uri, trials=9, warm_start="best_configs/")
    for i in range(9):
        sweep.trial("ce", f"ce_{i}", 0.5 + i / 100)
    tuning = confirmed_results(uri, "cs").tuning["ce"]
    assert tuning.trial_ids == ["ce_1", "ce_2"] and "warm-start" in tuning.basis


def test_the_panel_draws_intervals_pairs_and_tuning_curves(uri):
    _three_families(uri)
    results = confirmed_results(uri, "cs")
    figure = interval_figure(results)
    names = [(t.name, t.xaxis) for t in figure.data]
    # a marker with error bars per family and subplot, the search-best on the val subplot
    assert names.count(("nonl", "x")) == 1 and ("nonl", "x2") in names
    assert ("nonl search-best", "x3") in names and ("nonl", "x3") in names
    acc = next(t for t in figure.data if (t.name, t.xaxis) == ("nonl", "x"))
    assert acc.y[0] == pytest.approx(0.82) and acc.error_y.array[0] > 0
    curves = tuning_figure(results)
    assert {t.name for t in curves.data} == {
        f"{f}{s}" for f in ("ce", "nonl", "ntce") for s in ("", " band")
    }
    rows = pairwise_rows(results)
    assert len(rows) == 6 and rows[0][:3] == ["nonl", "ce", "test/acc1 (pts)"]
    assert rows[0][-1] == "no detectable difference" or rows[0][-1].startswith("nonl")

    panel = PanelSpec(title="t", kind="confirmation", options={"reference": "ce"})
    fragment = PANEL_KINDS.get("confirmation").render(panel, load_sweep(uri, "cs"), PageContext())
    assert fragment.plots == 2 and fragment.rows == 6
    assert "nonl vs ce: test/acc1" in fragment.html


def test_a_sweep_without_confirmation_runs_is_unchanged(uri, tmp_path):
    sweep = Sweep(uri)
    sweep.trial("ce", "ce_1", 0.80)
    best = sweep.trial("ce", "ce_2", 0.85)
    results = confirmed_results(uri, "cs")
    assert not results.confirmed and results.comparisons == []
    assert results.tuning["ce"].trial_ids == ["ce_1", "ce_2"]  # max(2, 3 // 3) = 2
    written = export_best(uri, "cs", collect_rows(uri, "cs"), tmp_path, seed=7)
    provenance = yaml.safe_load(written[0].read_text())["provenance"]
    assert provenance["mlflow_run_id"] == best and "confirmation" not in provenance
    console = Console(record=True)
    print_confirmed(console, results)
    assert "no finished confirmation runs" in console.export_text()
    panel = PanelSpec(title="t", kind="confirmation")
    fragment = PANEL_KINDS.get("confirmation").render(panel, load_sweep(uri, "cs"), PageContext())
    assert fragment.plots == 1 and "No confirmation runs" in fragment.html


@pytest.mark.parametrize("module", ["sweep/confirmation.py", "report/panels/confirmation.py"])
def test_the_confirmation_modules_import_neither_torch_nor_ray(module):
    path = Path(__file__).resolve().parents[2] / "platform" / "ncsweep" / module
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"torch", "ray", "mlflow", "optuna"}


def test_status_and_export_commands_show_and_use_the_confirmed_winner(
    uri, tmp_path, capsys, monkeypatch
):
    from ncsweep.cli import main

    _three_families(uri)
    monkeypatch.setenv("NCSWEEP_STORAGE", str(tmp_path / "no-saved-sweeps"))
    with pytest.raises(SystemExit) as done:
        main(["sweep", "--status", "cs", "--tracking-uri", uri])
    out = " ".join(capsys.readouterr().out.split())
    assert done.value.code in (None, 0), out
    assert "Leaderboard: cs" in out and "Confirmed leaderboard: cs" in out
    assert "nonl vs ce: test/acc1 +2.0 pts" in out

    with pytest.raises(SystemExit) as done:
        main(["export", "cs", "--out", str(tmp_path / "best"), "--tracking-uri", uri])
    out = " ".join(capsys.readouterr().out.split())
    assert done.value.code in (None, 0), out
    assert (
        "nonl: confirmed winner nonl_2 (seeds 0, 1, 2, 3, 4), not the search's single best" in out
    )
    provenance = yaml.safe_load((tmp_path / "best" / "nonl.yaml").read_text())["provenance"]
    assert provenance["trial_id"] == "nonl_2" and provenance["confirmation"]["seeds"] == [
        0,
        1,
        2,
        3,
        4,
    ]
