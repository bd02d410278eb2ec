"""A sweep's settings (``settings.SweepConfig``), saved beside its Ray results so that ``ncsweep resume NAME`` needs
nothing but the name (and the storage, when it is not the default).

Stored as ``<storage>/<name>/sweep.yaml`` through fsspec (a local path or ``s3://``);
the tracking URI is stored with any credentials removed. :func:`save_yaml` and
:func:`load_yaml` are the same mechanism for any file of a named run folder (a paper study
keeps its plan in ``<storage>/<name>/study.yaml``).
"""

from __future__ import annotations

import fsspec
import yaml

from ..config import SpecError
from ..redact import redact
from .sweep_config import SAVED, SweepConfig

__all__ = ["SweepConfig", "sweep_dir", "save_state", "load_state", "save_yaml", "load_yaml"]

STATE_FILE = "sweep.yaml"


def sweep_dir(storage: str, name: str) -> str:
    return f"{storage.rstrip('/')}/{name}"


def save_yaml(storage: str, name: str, filename: str, data: dict) -> None:
    """Write ``data`` (credentials redacted) to ``<storage>/<name>/<filename>``."""
    fs, path = fsspec.core.url_to_fs(f"{sweep_dir(storage, name)}/{filename}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as handle:
        handle.write(yaml.safe_dump(redact(data), sort_keys=False))


def load_yaml(storage: str, name: str, filename: str) -> dict | None:
    """``<storage>/<name>/<filename>`` as saved by :func:`save_yaml`; None when absent."""
    fs, path = fsspec.core.url_to_fs(f"{sweep_dir(storage, name)}/{filename}")
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as handle:
        return yaml.safe_load(handle.read())


def save_state(config: SweepConfig) -> None:
    save_yaml(config.storage, config.name, STATE_FILE, config.model_dump(mode="json"))


def load_state(storage: str, name: str) -> SweepConfig:
    """The saved settings of sweep ``name``; a SpecError says where it looked."""
    data = load_yaml(storage, name, STATE_FILE)
    if data is None:
        raise SpecError(
            f"no sweep named {name!r} under {storage} (looked for "
            f"{sweep_dir(storage, name)}/{STATE_FILE}); pass --storage where it ran"
        )
    # a sweep saved before parallel_families existed ran its families one after another, and
    # its Tune state names the trainable that way (runner._tuner)
    data.setdefault("parallel_families", False)
    # nor had one saved before the confirmation stage existed a stage to resume
    # (`ncsweep confirm NAME --confirm-top K` adds one)
    data.setdefault("confirm_top", 0)
    # the state lives where it was found: the stored storage URI may have been redacted
    return SweepConfig.model_validate({**data, "storage": storage}, context={SAVED: True})
