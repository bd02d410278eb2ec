"""Experiment tracking in MLflow: a sweep is a parent run, each trial a child run.

Only this package imports MLflow (``tests/test_layers.py``); the rest of ncsweep reads and
writes through the store interface (``store.py``, opened by ``factory.open_store``)
and the helpers below.
"""

from .factory import open_store
from .identity import TAG_USER, tracking_user
from .links import (
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_KIND_TRAINING,
    experiment_runs_url,
    run_url,
    ui_base,
    ui_command,
)
from .placement import TAG_NODE, TAG_NODE_ID, TAG_RESOURCES, node_tags
from .provenance import git_commit, package_versions, provenance_tags
from .reachable import require_reachable
from .runs import (
    PARENT_TAG,
    STAGE_CONFIRM,
    STAGE_SEARCH,
    TAG_CONFIRMS,
    TAG_FAILURE,
    TAG_FAMILY,
    TAG_INFRA_FAILURE,
    TAG_KIND,
    TAG_RETRIES,
    TAG_SEED,
    TAG_STAGE,
    TAG_SWEEP,
    TAG_TRIAL,
    MetricLogger,
    clear_failure,
    ensure_experiment,
    failure_reason,
    find_run,
    finish_run,
    log_params,
    log_text,
    resolve_tracking_uri,
    set_tags,
    start_run,
)
from .store import (
    ArtifactNotFound,
    ExperimentRecord,
    History,
    MetricPoint,
    RunNotFound,
    RunRecord,
    TrackingError,
    TrackingStore,
)

__all__ = [
    "ArtifactNotFound",
    "ExperimentRecord",
    "History",
    "MetricPoint",
    "RunNotFound",
    "RunRecord",
    "TrackingError",
    "TrackingStore",
    "open_store",
    "EXPERIMENT_KIND_TAG",
    "EXPERIMENT_KIND_TRAINING",
    "experiment_runs_url",
    "run_url",
    "ui_base",
    "ui_command",
    "PARENT_TAG",
    "STAGE_CONFIRM",
    "STAGE_SEARCH",
    "TAG_CONFIRMS",
    "TAG_SEED",
    "TAG_STAGE",
    "TAG_FAILURE",
    "TAG_INFRA_FAILURE",
    "TAG_RETRIES",
    "TAG_FAMILY",
    "TAG_KIND",
    "TAG_NODE",
    "TAG_NODE_ID",
    "TAG_RESOURCES",
    "TAG_SWEEP",
    "TAG_TRIAL",
    "TAG_USER",
    "MetricLogger",
    "clear_failure",
    "ensure_experiment",
    "failure_reason",
    "find_run",
    "finish_run",
    "git_commit",
    "log_params",
    "log_text",
    "node_tags",
    "package_versions",
    "provenance_tags",
    "require_reachable",
    "resolve_tracking_uri",
    "set_tags",
    "start_run",
    "tracking_user",
]
