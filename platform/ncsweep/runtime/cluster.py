"""Where runs execute: joining an existing Ray cluster, and storage every node can read.

A sweep submitted with ``ray job submit`` runs its driver on the head; its trials run on
worker nodes and write Ray Train checkpoints and Tune state to ``--storage``. A path on
one node's disk is invisible to the others, so on a cluster of more than one node the
storage must be a URI (``s3://``, ``gs://``, ...) or a filesystem mounted at the same path
everywhere, which the user declares with ``--shared-storage``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import ray

from .._environment import QUIET_ENV
from ..config import SpecError
from .local_ray import local_ray_options

__all__ = [
    "alive_nodes",
    "connect_kwargs",
    "is_remote_storage",
    "parse_resources",
    "probe_nodes",
    "require_shared_storage",
]

# Set by Ray in the environment of a job's entrypoint: the job's runtime_env as JSON.
_JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def connect_kwargs(address: str | None, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """``ray.init`` arguments: join ``address`` when given, else start a local instance.

    ``env_vars`` (default ``QUIET_ENV``) reach every process of the job. Inside a Ray job the
    job's runtime_env already applies and Ray refuses an env var that both set: only the
    variables the job leaves unset are added.
    """
    env_vars = dict(QUIET_ENV if env_vars is None else env_vars)
    kwargs: dict[str, Any] = {"log_to_driver": True}
    if address:
        job = json.loads(os.environ.get(_JOB_CONFIG_ENV) or "{}")
        job_env = (job.get("runtime_env") or {}).get("env_vars") or {}
        env_vars = {k: v for k, v in env_vars.items() if k not in job_env}
    else:
        kwargs.update(local_ray_options())  # loopback only, dashboard included: local_ray.py
    if env_vars:
        kwargs["runtime_env"] = {"env_vars": env_vars}
    return kwargs


def alive_nodes() -> list[dict]:
    """The cluster's live nodes (``ray.nodes()`` entries); Ray must be initialised."""
    return [node for node in ray.nodes() if node.get("Alive")]


def is_remote_storage(storage: str) -> bool:
    """A URI every node resolves the same way (``s3://``, ``gs://``, ...), not ``file://``."""
    return "://" in storage and not storage.startswith("file://")


def require_shared_storage(storage: str, shared: bool, option: str = "--storage") -> None:
    """Refuse a node-local storage path on a multi-node cluster (SpecError: exit 2)."""
    if shared or is_remote_storage(storage):
        return
    nodes = len(alive_nodes())
    if nodes > 1:
        raise SpecError(
            f"{option} {storage}: a local path, but the Ray cluster has {nodes} nodes. "
            f"Trial checkpoints and Tune state written on one node must be readable by the "
            f"driver and by a trial restarted on another node. Pass {option} "
            f"s3://bucket/prefix (any URI every node can reach), or, if {storage} is a shared "
            f"filesystem mounted at the same path on every node (NFS, EFS, Lustre), add "
            f"--shared-storage."
        )


def parse_resources(text: str | None, option: str = "--resources-per-worker") -> dict[str, float]:
    """``'{"worker_node": 0.01}'`` -> custom Ray resources each Train worker asks for."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(
            f"{option}: not JSON ({err.msg}); give an object of custom resource names to "
            f"amounts, e.g. '{{\"worker_node\": 0.01}}'"
        ) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        raise SpecError(
            f"{option}: {text!r} must be a JSON object of resource names to non-negative "
            f"numbers, e.g. '{{\"worker_node\": 0.01}}'"
        )
    builtin = sorted(k for k in value if k.upper() in {"CPU", "GPU"})
    if builtin:
        raise SpecError(
            f"{option}: {', '.join(builtin)} are set with --cpus-per-worker and "
            f"--gpus-per-trial (sweep) or --gpus-per-worker (train); give only custom resources"
        )
    return {k: float(v) for k, v in value.items()}


def probe_nodes(
    probe_url: str | None = None, expected: str | None = None, timeout_s: float = 300
) -> tuple[dict, list[dict]]:
    """The driver's ``node_report`` and one per live node (a zero-CPU task pinned to it).

    Each node entry adds ``node_id``, ``ip``, ``gpus`` (Ray's GPU resource) and ``error``
    when the task could not run there.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from . import _node_probe

    ray.cloudpickle.register_pickle_by_value(_node_probe)
    remote = ray.remote(num_cpus=0, max_retries=0)(_node_probe.node_report)
    pending = []
    for node in alive_nodes():
        strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ref = remote.options(scheduling_strategy=strategy).remote(probe_url, expected)
        info = {
            "node_id": node["NodeID"],
            "ip": node.get("NodeManagerAddress", "?"),
            "gpus": node.get("Resources", {}).get("GPU", 0),
        }
        pending.append((info, ref))
    nodes = []
    for info, ref in pending:
        try:
            report: dict[str, Any] = ray.get(ref, timeout=timeout_s)
            info.update(report)
        except Exception as err:  # a node that cannot run the task is a finding
            info["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:300]}"
        nodes.append(info)
    return _node_probe.node_report(None, None), nodes


class StorageProbe:
    """A small object written under ``<storage>/.ncsweep-doctor/`` and deleted on exit.

    ``with StorageProbe(storage) as probe``: written and read back by the driver (raises on
    failure); ``probe.url``/``probe.text`` let every node read it too.
    """

    def __init__(self, storage: str):
        import uuid

        self.text = f"ncsweep doctor probe {uuid.uuid4().hex}"
        self.url = f"{storage.rstrip('/')}/.ncsweep-doctor/{uuid.uuid4().hex}.txt"

    def __enter__(self) -> StorageProbe:
        import fsspec

        self._fs, self._path = fsspec.core.url_to_fs(self.url)
        self._fs.makedirs(self._path.rsplit("/", 1)[0], exist_ok=True)
        with self._fs.open(self._path, "w") as handle:
            handle.write(self.text)
        with self._fs.open(self._path, "r") as handle:
            if handle.read() != self.text:
                raise OSError(f"{self.url}: read back a different object")
        return self

    def __exit__(self, *exc) -> None:
        self._fs.rm(self._path)
        folder = self._path.rsplit("/", 1)[0]
        try:
            if not self._fs.ls(folder):
                self._fs.rmdir(folder)
        except OSError:
            pass  # a prefix on an object store, or still used by a concurrent probe
