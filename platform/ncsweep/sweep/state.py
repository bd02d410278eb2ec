"""A sweep's settings (``settings.SweepConfig``), saved beside its Ray results so that ``ncsweep resume NAME`` needs
nothing but the name (and the storage, when it is not the default).

Stored as ``<storage>/<name>/sweep.yaml`` through fsspec (a local path or ``s3://``);
the tracking URI is stored with any credentials removed.
"""

from __future__ import annotations

import fsspec
import yaml

from ..config import SpecError
from ..redact import redact
from .settings import SweepConfig

__all__ = ["SweepConfig", "sweep_dir", "save_state", "load_state"]

STATE_FILE = "sweep.yaml"


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
