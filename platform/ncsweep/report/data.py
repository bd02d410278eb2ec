"""Everything a report shows about one sweep, read from MLflow in a handful of requests.

One read of the sweep's runs (``sweep/records.py``: its snapshot for a finished sweep, else
one search for the children), one artifact per family (its search space), and metric
histories in bulk (``TrackingStore.metric_histories``),
fetched lazily for the runs and keys a panel asks for and cached.
"""

from __future__ import annotations

import ast
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml

from ..config import SpecError
from ..defaults import default_storage
from ..plan.objectives import NC_STEPS
from ..plan.spaces import Param, parse_distribution
from ..status import RunState, TrialOutcome
from ..sweep.leaderboard import TrialRow, best_per_family, row_from_run
from ..sweep.records import SweepRecords, read_sweep
from ..tracking import (
    TAG_FAILURE,
    TAG_STOPPED_EARLY,
    History,
    TrackingStore,
    experiment_runs_url,
    open_store,
    run_url,
    ui_base,
)

__all__ = ["SweepData", "Trial", "load_sweep", "trial_status", "STATUSES"]

#: How a trial ended, in the order the report lists them.
STATUSES = tuple(TrialOutcome)


def trial_status(row: TrialRow, tags: dict[str, str]) -> TrialOutcome:
    """finished (whole budget), stopped early (ASHA), failed, running, or killed."""
    if row.status == RunState.FAILED:
        return TrialOutcome.FAILED
    if row.status in (RunState.RUNNING, RunState.SCHEDULED):
        return TrialOutcome.RUNNING
    if row.complete:
        return TrialOutcome.FINISHED
    if TAG_STOPPED_EARLY in tags or row.status == RunState.FINISHED:
        return TrialOutcome.STOPPED_EARLY
    return TrialOutcome.KILLED


def _param_value(text: str) -> Any:
    """An MLflow param (always a string) back as the YAML scalar it was."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


@dataclass
class Trial:
    """A child run: its leaderboard row plus what the report adds."""

    row: TrialRow
    status: str
    params: dict[str, str]
    failure: str | None
    start_ms: int
    end_ms: int | None

    @property
    def hours(self) -> float:
        if self.end_ms is None or self.start_ms is None:
            return 0.0
        return max(0.0, (self.end_ms - self.start_ms) / 3.6e6)

    def value(self, key: str) -> float | None:
        """A metric's last value; ``objective/nc_steps`` is the sweep's censored NC objective."""
        if key == NC_STEPS:
            return self.row.nc_steps
        return self.row.metrics.get(key)


@dataclass
class SweepData:
    name: str
    uri: str
    experiment_id: str
    parent_id: str
    parent_status: str
    parent_end_ms: int | None
    config: dict[str, Any]
    trials: list[Trial]
    spaces: dict[str, list[Param]]
    storage: str | None = None
    #: the sweep's runs as read (confirmation panels read them again from here)
    records: SweepRecords | None = None
    _histories: History = field(default_factory=dict)

    @property
    def ui(self) -> str:
        return ui_base(self.uri)

    @property
    def runs_url(self) -> str:
        return experiment_runs_url(self.ui, self.experiment_id)

    def run_url(self, run_id: str) -> str:
        return run_url(self.ui, self.experiment_id, run_id)

    @cached_property
    def families(self) -> list[str]:
        declared = self.config.get("families") or []
        seen = sorted({t.row.family for t in self.trials})
        return list(declared) + [f for f in seen if f not in declared]

    def family_trials(self, family: str) -> list[Trial]:
        return [t for t in self.trials if t.row.family == family]

    @cached_property
    def best(self) -> dict[str, Trial]:
        """The best full-budget trial per family by the sweep's objective (see
        ``leaderboard.best_per_family``)."""
        by_run = {t.row.run_id: t for t in self.trials}
        objective = str(self.config.get("objective") or "accuracy")
        rows = [t.row for t in self.trials]
        return {f: by_run[r.run_id] for f, r in best_per_family(rows, objective).items()}

    def histories(self, run_ids: list[str], keys: list[str]) -> History:
        """Metric histories, fetched in bulk for what is not cached yet."""
        missing_runs = [
            r for r in run_ids if any(k not in self._histories.get(r, {}) for k in keys)
        ]
        if missing_runs:
            fetched = open_store(self.uri).metric_histories(missing_runs, keys)
            for run_id in missing_runs:
                slot = self._histories.setdefault(run_id, {})
                for key in keys:
                    slot.setdefault(key, fetched.get(run_id, {}).get(key, []))
        return {r: self._histories.get(r, {}) for r in run_ids}


def _parse_config(params: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {k: _param_value(v) for k, v in params.items()}
    families = params.get("families")
    if families:
        try:
            config["families"] = list(ast.literal_eval(families))
        except (ValueError, SyntaxError):
            config["families"] = [f.strip(" '\"[]") for f in families.split(",")]
    return config


def _spaces(store: TrackingStore, parent_id: str, families: list[str]) -> dict[str, list[Param]]:
    """Each family's searched parameters, from the search-space file logged on the parent."""
    spaces: dict[str, list[Param]] = {}
    for family in families:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = store.download_artifact(parent_id, f"search_spaces/{family}.yaml", tmp)
                with open(path) as handle:
                    raw = yaml.safe_load(handle) or {}
        except Exception:  # an artifact store we cannot read: the study is built from params
            continue
        params = []
        for key, dist in (raw.get("space") or {}).items():
            try:
                params.append(parse_distribution(key, dist, f"{family}.yaml"))
            except SpecError:
                continue
        spaces[family] = params
    return spaces


def load_sweep(uri: str, name: str, storage: str | None = None) -> SweepData:
    """Read sweep ``name`` (running or done); a SpecError if MLflow has no such sweep."""
    # the snapshot is looked for in the default storage too: one written for another
    # sweep or server never matches this sweep's parent run (records.py)
    records = read_sweep(uri, name, storage or default_storage(None))
    experiment_id, parent = records.experiment_id, records.parent
    parent_id = parent.run_id
    store = open_store(uri)
    config = _parse_config(parent.params)
    nc_metric = str(config.get("nc_metric", "mean"))
    trials = []
    for run in records.children():
        row = row_from_run(run, nc_metric)
        trials.append(
            Trial(
                row=row,
                status=trial_status(row, run.tags),
                params=dict(run.params),
                failure=run.tags.get(TAG_FAILURE),
                start_ms=run.start_ms,
                end_ms=run.end_ms,
            )
        )
    trials.sort(key=lambda t: (t.row.family, t.row.trial_id))
    data = SweepData(
        name=name,
        uri=uri,
        experiment_id=experiment_id,
        parent_id=parent_id,
        parent_status=parent.status,
        parent_end_ms=parent.end_ms,
        config=config,
        trials=trials,
        spaces={},
        storage=storage or config.get("storage"),
        records=records,
    )
    data.spaces = _spaces(store, parent_id, data.families)
    return data
