"""A sweep's settings, saved beside its Ray results so that ``ncsweep resume NAME`` needs
nothing but the name (and the storage, when it is not the default).

Stored as ``<storage>/<name>/sweep.yaml`` through fsspec (a local path or ``s3://``);
the tracking URI is stored with any credentials removed.
"""

from __future__ import annotations

from typing import Literal

import fsspec
import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..config import SpecError
from ..redact import redact

__all__ = ["SweepConfig", "sweep_dir", "save_state", "load_state", "FAMILIES"]

FAMILIES = ("ce", "normface", "ntce", "nonl", "scl")
STATE_FILE = "sweep.yaml"


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    preset: str = "digits"
    families: list[str] = Field(default_factory=lambda: list(FAMILIES))
    trials: int = Field(4, gt=0, description="trials per family")
    max_concurrent: int | None = Field(None, gt=0)
    workers_per_trial: int = Field(1, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs per trial, split over its workers")
    cpus_per_worker: float = Field(1.0, ge=0)
    seed: int = 0
    storage: str
    shared_storage: bool = Field(
        False, description="a local storage path is a filesystem every node mounts (NFS)"
    )
    resources_per_worker: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources each Train worker asks for"
    )
    tracking_uri: str
    objective: Literal["accuracy", "pareto"] = "accuracy"
    nc_metric: str = "mean"
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = Field(3, gt=0)
    reduction_factor: int = Field(3, gt=1)
    max_failures: int = Field(0, ge=0, description="retries of a failed trial")
    spaces_root: str | None = None
    overrides: list[str] = Field(default_factory=list, description="--set applied to every trial")


def sweep_dir(storage: str, name: str) -> str:
    return f"{storage.rstrip('/')}/{name}"


def save_state(config: SweepConfig) -> None:
    data = config.model_dump(mode="json")
    data = redact(data)
    fs, path = fsspec.core.url_to_fs(f"{sweep_dir(config.storage, config.name)}/{STATE_FILE}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as handle:
        handle.write(yaml.safe_dump(data, sort_keys=False))


def load_state(storage: str, name: str) -> SweepConfig:
    """The saved settings of sweep ``name``; a SpecError says where it looked."""
    url = f"{sweep_dir(storage, name)}/{STATE_FILE}"
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise SpecError(
            f"no sweep named {name!r} under {storage} (looked for {url}); "
            f"pass --storage where it ran"
        )
    with fs.open(path, "r") as handle:
        data = yaml.safe_load(handle.read())
    # the state lives where it was found: the stored storage URI may have been redacted
    return SweepConfig.model_validate({**data, "storage": storage})
