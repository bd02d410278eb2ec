"""``ncsweep study paper --from-sweep NAME``: each family's cells start from the spec its
confirmed winner trained with (fast: an in-memory store, no Ray)."""

from __future__ import annotations

import uuid

import pytest
import yaml

from ncsweep.config import SpecError
from ncsweep.plan.presets import load_preset
from ncsweep.study.from_sweep import confirmed_bases
from ncsweep.study.plan import plan_cells
from ncsweep.sweep.confirmation import STAGE_CONFIRM, TAG_CONFIRMS, TAG_SEED, TAG_STAGE
from ncsweep.tracking import (
    PARENT_TAG,
    TAG_FAMILY,
    TAG_KIND,
    TAG_SWEEP,
    TAG_TRIAL,
    MetricPoint,
    ensure_experiment,
    log_params,
    open_store,
    start_run,
)
from ncsweep.tracking.memory_store import drop_memory_store


@pytest.fixture
def uri():
    name = f"memory://from-sweep-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


def _sweep_with_a_confirmed_ce(uri: str, lr: float) -> None:
    """Sweep ``fs``: two ce search trials (learning rates ``lr`` and 0.5); only the first
    is confirmed, over two seeds."""
    store = open_store(uri)
    experiment = ensure_experiment(uri, "fs")
    parent = start_run(uri, experiment, "fs", {TAG_SWEEP: "fs", TAG_KIND: "sweep"})
    log_params(uri, parent, {"objective": "accuracy", "nc_metric": "mean"})
    preset = load_preset("digits")
    searched = {}
    for trial, rate in (("t1", lr), ("t2", 0.5)):
        tags = {TAG_SWEEP: "fs", TAG_KIND: "train", PARENT_TAG: parent}
        tags.update({TAG_FAMILY: "ce", TAG_TRIAL: trial})
        run = store.create_run(experiment, trial, tags).run_id
        store.log_batch(run, metrics=[MetricPoint("val/acc1", 0.9, 0, 10)])
        store.end_run(run, "FINISHED")
        spec = preset.space_for("ce").spec_dict(preset.spec, {})
        spec.setdefault("optim", {})["lr"] = rate
        store.log_text(run, yaml.safe_dump(spec), "spec.yaml")
        searched[trial] = run
    for seed in (1, 2):
        tags = {TAG_SWEEP: "fs", TAG_KIND: "train", PARENT_TAG: parent, TAG_FAMILY: "ce"}
        tags.update({TAG_STAGE: STAGE_CONFIRM, TAG_CONFIRMS: searched["t1"], TAG_SEED: str(seed)})
        run = store.create_run(experiment, f"ce-s{seed}", tags).run_id
        metrics = [MetricPoint(k, v, 0, 10) for k, v in (("val/acc1", 0.9), ("test/acc1", 0.9))]
        store.log_batch(run, metrics=metrics)
        store.end_run(run, "FINISHED")


def test_cells_start_from_the_confirmed_winners_spec(uri):
    _sweep_with_a_confirmed_ce(uri, lr=0.0123)
    bases = confirmed_bases(uri, "fs")
    assert sorted(bases) == ["ce"]
    cells = plan_cells(
        load_preset("digits"),
        ["ce"],
        [0, 1],
        [],
        study="s",
        storage="/tmp/s",
        variants=["balanced"],
        bases=bases,
    )
    assert [c.spec["optim"]["lr"] for c in cells] == [0.0123, 0.0123]
    assert [c.spec["run"]["seed"] for c in cells] == [0, 1]


def test_without_bases_cells_use_the_search_space_defaults(uri):
    _sweep_with_a_confirmed_ce(uri, lr=0.0123)
    cells = plan_cells(
        load_preset("digits"), ["ce"], [0], [], study="s", storage="/tmp/s", variants=["balanced"]
    )
    assert cells[0].spec["optim"]["lr"] != 0.0123


def test_a_sweep_without_confirmation_runs_is_a_clear_error(uri):
    ensure_experiment(uri, "plain")
    start_run(
        uri, ensure_experiment(uri, "plain"), "plain", {TAG_SWEEP: "plain", TAG_KIND: "sweep"}
    )
    with pytest.raises(SpecError, match="ncsweep confirm plain"):
        confirmed_bases(uri, "plain")
