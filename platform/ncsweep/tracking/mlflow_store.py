"""The tracking store on MLflow, through ``MlflowClient`` (``store.py`` for the interface).

Every call goes through MLflow's own client, so a tracking server's outage is waited out by
MLflow's HTTP retries exactly as ``runs.py`` describes; metric histories of many runs use
the bulk reads of ``mlflow_history.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from . import mlflow_history
from .run_search import collect_pages
from .run_search import run_filter as _filter
from .run_search import run_order as _order
from .store import (
    ExperimentRecord,
    History,
    MetricPoint,
    RunNotFound,
    RunRecord,
    TrackingError,
    TrackingStore,
)

__all__ = ["MlflowStore", "run_record"]


def run_record(run) -> RunRecord:
    """An ``mlflow.entities.Run`` as a :class:`RunRecord`."""
    return RunRecord(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        run_name=run.info.run_name,
        status=run.info.status,
        start_ms=run.info.start_time,
        end_ms=run.info.end_time,
        params=dict(run.data.params),
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
    )


def _experiment_record(experiment) -> ExperimentRecord:
    return ExperimentRecord(
        experiment_id=experiment.experiment_id,
        name=experiment.name,
        deleted=experiment.lifecycle_stage == "deleted",
        tags=dict(experiment.tags),
        creation_ms=experiment.creation_time,
    )


class MlflowStore(TrackingStore):
    """MLflow at ``uri`` (a tracking server, a database, or an allowed file store)."""

    def __init__(self, uri: str):
        self.uri = uri
        self.client = MlflowClient(uri)

    def get_experiment(self, name: str) -> ExperimentRecord | None:
        found = self.client.get_experiment_by_name(name)
        return None if found is None else _experiment_record(found)

    def newest_experiment(self) -> ExperimentRecord | None:
        found = self.client.search_experiments(order_by=["creation_time DESC"], max_results=1)
        return _experiment_record(found[0]) if found else None

    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        try:
            return self.client.create_experiment(
                name, artifact_location=artifact_location, tags=tags
            )
        except MlflowException as err:
            raise TrackingError(str(err)) from err

    def restore_experiment(self, experiment_id: str) -> None:
        self.client.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.client.set_experiment_tag(experiment_id, key, value)

    def create_run(self, experiment_id: str, run_name: str, tags: dict[str, str]) -> RunRecord:
        return run_record(self.client.create_run(experiment_id, run_name=run_name, tags=tags))

    def get_run(self, run_id: str) -> RunRecord:
        try:
            return run_record(self.client.get_run(run_id))
        except MlflowException as err:
            raise RunNotFound(str(err)) from err

    def search_runs(
        self,
        experiment_id: str,
        tags: dict[str, str] | None = None,
        *,
        status: str | None = None,
        ended_since: int | None = None,
        descending_by: str | None = None,
        max_results: int | None = None,
    ) -> list[RunRecord]:
        query, order = _filter(tags, status, ended_since), _order(descending_by)

        def fetch(size: int, token: str | None) -> tuple[list[RunRecord], str | None]:
            page = self.client.search_runs(
                [experiment_id],
                filter_string=query,
                order_by=order,
                max_results=size,
                page_token=token,
            )
            return [run_record(run) for run in page], page.token

        return collect_pages(fetch, max_results)

    def set_status(self, run_id: str, status: str) -> None:
        self.client.update_run(run_id, status=status)

    def end_run(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        self.client.set_terminated(run_id, status=status, end_time=end_ms)

    def delete_run(self, run_id: str) -> None:
        self.client.delete_run(run_id)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.client.log_batch(
            run_id,
            metrics=[Metric(m.key, m.value, m.timestamp_ms, m.step) for m in metrics],
            params=[Param(k, v) for k, v in (params or {}).items()],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.delete_tag(run_id, key)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(int(m.step), float(m.value)) for m in self.client.get_metric_history(run_id, key)]

    def metric_histories(self, run_ids: Iterable[str], keys: Iterable[str]) -> History:
        return mlflow_history.metric_histories(self.uri, list(run_ids), list(keys))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(run_id, local_dir, artifact_path)

    def download_artifact(self, run_id: str, path: str, dst_dir: str) -> str:
        try:
            return self.client.download_artifacts(run_id, path, dst_dir)
        except MlflowException as err:
            raise TrackingError(str(err)) from err
