"""What a finished sweep keeps (``keep_checkpoints``): checkpoints of trials outside each
family's top candidates are removed, and export, resume and evaluate still work after it.

The first tests prune a hand-made storage layout (no Ray, milliseconds); the last runs a
real digits sweep, prunes, then exports, resumes and evaluates its best trial.
"""

from __future__ import annotations

import pytest
import yaml
from rich.console import Console

from ncsweep.runtime.retention import TAG_PRUNED, prune_checkpoints
from ncsweep.status import RunState
from ncsweep.tracking import RunRecord, open_store

STATE_BYTES = 1000


def _layout(root):
    """A sweep folder: two search trials of ``ce`` (two checkpoints each), a Ray Train run
    with two checkpoints, and a trial still running."""
    for trial in ("trial_top", "trial_low", "trial_busy"):
        for index in (1, 2):
            folder = root / "ce" / trial / f"checkpoint_00000{index}"
            folder.mkdir(parents=True)
            (folder / "state.pt").write_bytes(b"x" * STATE_BYTES)
        (root / "ce" / trial / "result.json").write_text("{}")
    for stamp in ("2026-01-01_00-00-01", "2026-01-01_00-00-02"):
        folder = root / "train" / "ddp" / f"checkpoint_{stamp}"
        folder.mkdir(parents=True)
        (folder / "state.pt").write_bytes(b"x" * STATE_BYTES)
    (root / "studies").mkdir()
    (root / "studies" / "ce.journal").write_text("{}")


def _runs(root, store):
    """The MLflow runs of :func:`_layout`'s trials (in the in-memory store)."""
    experiment = store.create_experiment("keep", None, {})
    specs = {
        "top": (RunState.FINISHED, root / "ce/trial_top/checkpoint_000002"),
        "low": (RunState.FINISHED, root / "ce/trial_low/checkpoint_000002"),
        "busy": (RunState.RUNNING, root / "ce/trial_busy/checkpoint_000002"),
        "ddp": (RunState.KILLED, root / "train/ddp/checkpoint_2026-01-01_00-00-02"),
    }
    runs = []
    for key, (status, final) in specs.items():
        tags = {"ncsweep.trial_id": key, "ncsweep.checkpoint": str(final)}
        run_id = store.create_run(experiment, key, tags).run_id
        runs.append(RunRecord(run_id, experiment, key, status, 0, None, tags=tags))
    return runs


def _checkpoints(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*/checkpoint_*"))


@pytest.fixture
def sweep_folder(tmp_path):
    root = tmp_path / "ray" / "keep"
    _layout(root)
    uri = f"memory://keep-{tmp_path.name}"
    return root, uri, _runs(root, open_store(uri))


def test_best_keeps_the_candidates_final_checkpoint_and_nothing_of_the_others(sweep_folder):
    root, uri, runs = sweep_folder
    top = next(r.run_id for r in runs if r.run_name == "top")
    pruned = prune_checkpoints(str(root), runs, {top}, "best", uri)
    assert _checkpoints(root) == [
        "ce/trial_busy/checkpoint_000001",  # still running: untouched
        "ce/trial_busy/checkpoint_000002",
        "ce/trial_top/checkpoint_000002",
    ]
    assert pruned.before == {"ce": 6 * STATE_BYTES + 6, "train": 2 * STATE_BYTES}
    assert pruned.after == {"ce": 3 * STATE_BYTES + 6, "train": 0}
    assert (root / "ce/trial_low/result.json").exists()  # only checkpoints go
    assert (root / "studies/ce.journal").exists()
    tags = {r.run_name: open_store(uri).get_run(r.run_id).tags for r in runs}
    assert TAG_PRUNED in tags["low"] and TAG_PRUNED in tags["ddp"]
    assert TAG_PRUNED not in tags["top"] and TAG_PRUNED not in tags["busy"]
    again = prune_checkpoints(str(root), runs, {top}, "best", uri)
    assert again.removed == [] and again.after == pruned.after  # idempotent


def test_final_keeps_every_trials_final_checkpoint_and_all_keeps_everything(sweep_folder):
    root, uri, runs = sweep_folder
    assert prune_checkpoints(str(root), runs, set(), "all", uri).removed == []
    assert len(_checkpoints(root)) == 8
    prune_checkpoints(str(root), runs, set(), "final", uri)
    assert _checkpoints(root) == [
        "ce/trial_busy/checkpoint_000001",
        "ce/trial_busy/checkpoint_000002",
        "ce/trial_low/checkpoint_000002",
        "ce/trial_top/checkpoint_000002",
        "train/ddp/checkpoint_2026-01-01_00-00-02",
    ]


def test_an_unknown_policy_is_refused(sweep_folder):
    root, uri, runs = sweep_folder
    with pytest.raises(ValueError, match="best, final, all"):
        prune_checkpoints(str(root), runs, set(), "some", uri)


@pytest.mark.slow
def test_a_pruned_sweep_still_exports_resumes_and_evaluates_its_best_trial(
    ray_session, tmp_path, capsys
):
    from ncsweep.cli import main
    from ncsweep.sweep import SweepConfig, collect_rows, run_sweep

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = SweepConfig(
        name="keep",
        families=["ce"],
        trials=3,
        storage=str(tmp_path / "ray"),
        tracking_uri=uri,
        scheduler="none",
        confirm_top=0,  # top max(0, 1) = 1 candidate
        overrides=["run.epochs=2", "eval.val_nc=false"],
    )
    assert config.keep_checkpoints == "best" and not config.tensorboard
    run_sweep(config, Console(width=140), out_dir=tmp_path / "best")
    family = tmp_path / "ray" / "keep" / "ce"
    trials = sorted(family.glob("trial_*"))
    assert len(trials) == 3
    assert not list(family.glob("trial_*/events.out.tfevents*"))  # no TensorBoard files
    rows = collect_rows(uri, "keep")
    best = rows[0]
    kept = {t.name: sorted(c.name for c in t.glob("checkpoint_*")) for t in trials}
    best_folder = f"trial_{best.trial_id}"
    final = open_store(uri).get_run(best.run_id).tags["ncsweep.checkpoint"]
    assert final.startswith(str(family / best_folder))
    assert kept.pop(best_folder) == [final.rsplit("/", 1)[-1]] == ["checkpoint_000001"]
    assert all(not checkpoints for checkpoints in kept.values()), kept
    sizes = {t.name: sum(f.stat().st_size for f in t.rglob("*") if f.is_file()) for t in trials}
    state = (family / best_folder / "checkpoint_000001" / "state.pt").stat().st_size
    for name, size in sizes.items():  # what is left besides the kept state: result files
        assert size - (state if name == best_folder else 0) < 50_000, sizes

    main_args = ["--tracking-uri", uri, "--storage", str(tmp_path / "ray")]
    with pytest.raises(SystemExit) as done:
        main(["export", "keep", "--out", str(tmp_path / "exported"), *main_args])
    assert done.value.code in (0, None)
    exported = yaml.safe_load((tmp_path / "exported" / "ce.yaml").read_text())
    assert exported["provenance"]["mlflow_run_id"] == best.run_id

    again = run_sweep(config, Console(width=140), out_dir=tmp_path / "best", resume=True)
    assert len(again.rows) == 3
    assert sorted(c.name for c in (family / best_folder).glob("checkpoint_*")) == [
        "checkpoint_000001"
    ]

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["evaluate", best.run_id, "--suite", "probes", "--tracking-uri", uri])
    assert done.value.code in (0, None), capsys.readouterr()
    other = next(r for r in rows if r.run_id != best.run_id)
    with pytest.raises(SystemExit) as done:
        main(["evaluate", other.run_id, "--suite", "probes", "--tracking-uri", uri])
    assert done.value.code == 2
    assert "checkpoint was removed" in " ".join(capsys.readouterr().err.split())
