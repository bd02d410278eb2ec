"""Training state on disk: one ``state.pt`` per checkpoint, read with ``weights_only=True``;
or, for a run that ended itself (a non-finite loss), its verdict in ``verdict.json``.

Ray Train's ``Result.metrics`` are those of the latest *checkpoint*, so a run's verdict
travels back to the driver as a checkpoint; restored, it ends the run again without
training (the failure is deterministic).

Uploading a checkpoint to the run's storage (S3 and the like) survives an outage of up to
``STORAGE_OUTAGE_S`` seconds (``retry_storage``); pyarrow's own S3 client gives up after
three quick attempts, which would fail the trial on a blip of a few seconds. An upload that
returned is checked file by file (``ensure_uploaded``): pyarrow can lose a file to a dropped
connection and still return."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.fs as pafs
import torch

__all__ = [
    "STATE_FILE",
    "STORAGE_OUTAGE_S",
    "VERDICT_FILE",
    "save_state",
    "load_state",
    "save_verdict",
    "load_verdict",
    "ensure_uploaded",
    "retry_storage",
]

STATE_FILE = "state.pt"
VERDICT_FILE = "verdict.json"
STORAGE_OUTAGE_S = 300.0  # how long a checkpoint upload is retried before the run fails
_MAX_BACKOFF_S = 30.0

_log = logging.getLogger("ncsweep.train")
_T = TypeVar("_T")


def save_state(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write tensors, numbers, strings and plain containers (nothing that needs pickle code)."""
    path = Path(directory) / STATE_FILE
    torch.save(state, path)
    return path


def load_state(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE_FILE
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def save_verdict(directory: str | Path, metrics: dict[str, Any]) -> Path:
    path = Path(directory) / VERDICT_FILE
    path.write_text(json.dumps(metrics))
    return path


def load_verdict(directory: str | Path) -> dict[str, Any] | None:
    """The verdict saved in ``directory``, or None for a training-state checkpoint."""
    path = Path(directory) / VERDICT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def retry_storage(
    write: Callable[[], _T],
    what: str,
    patience_s: float = STORAGE_OUTAGE_S,
    errors: tuple[type[Exception], ...] = (OSError,),
) -> _T:
    """``write()`` (a call to the run's storage), tried again on ``errors`` (``OSError``:
    pyarrow's error for an unreachable or failing S3; fsspec backends raise their own)
    after 1, 2, 4 ... 30 s, for ``patience_s`` in all; then an ``OSError`` that says what
    failed for how long, with the last error."""
    deadline = time.monotonic() + patience_s
    delay = 1.0
    while True:
        try:
            return write()
        except (FileNotFoundError, PermissionError):  # a local file: no outage to wait out
            raise
        except errors as err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError(
                    f"{what} failed for {patience_s:.0f} s (STORAGE_OUTAGE_S in "
                    f"ncsweep/train/checkpoint.py): {err}"
                ) from err
            _log.warning("%s failed, trying again in %.0f s: %s", what, min(delay, left), err)
            time.sleep(min(delay, left))
            delay = min(2 * delay, _MAX_BACKOFF_S)


def ensure_uploaded(local_dir: str | Path, fs: pafs.FileSystem, remote_dir: str) -> None:
    """Every file under ``local_dir`` is at ``remote_dir`` on ``fs`` with its size; one that
    is not is uploaded again (``retry_storage``) until it is.

    Why: with pyarrow 25 a multipart upload whose part was lost to a dropped connection
    returns without error (the error is only logged when its stream is destroyed), so Ray
    2.60 registered a checkpoint without ``state.pt``; a trial restored from it fails."""
    for path in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
        remote = f"{remote_dir.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
        if retry_storage(partial(_landed, path, fs, remote), f"checking {remote}"):
            continue
        _log.warning("checkpoint file %s did not reach storage; uploading it again", remote)
        retry_storage(partial(_upload, path, fs, remote), f"checkpoint upload of {remote}")


def _landed(path: Path, fs: pafs.FileSystem, remote: str) -> bool:
    info = fs.get_file_info(remote)
    return bool(info.type == pafs.FileType.File and info.size == path.stat().st_size)


def _upload(path: Path, fs: pafs.FileSystem, remote: str) -> None:
    local = pafs.LocalFileSystem()
    pafs.copy_files(str(path), remote, source_filesystem=local, destination_filesystem=fs)
    if not _landed(path, fs, remote):
        raise OSError(f"{remote} is not in storage after its upload returned")
