"""Training state on disk: one ``state.pt`` per checkpoint, read with ``weights_only=True``;
or, for a run that ended itself (a non-finite loss), its verdict in ``verdict.json``.

Ray Train's ``Result.metrics`` are those of the latest *checkpoint*, so a run's verdict
travels back to the driver as a checkpoint; restored, it ends the run again without
training (the failure is deterministic).

Uploading a checkpoint to the run's storage (S3 and the like) survives an outage of up to
``STORAGE_OUTAGE_S`` seconds (``retry_storage``); pyarrow's own S3 client gives up after
three quick attempts, which would fail the trial on a blip of a few seconds. An upload that
returned is checked file by file (``ensure_uploaded``): pyarrow can lose a file to a dropped
connection and still return. The same helper uploads every checkpoint on every path
(``upload_checkpoint``: Ray Train's ``checkpoint_upload_fn`` on every rank that writes;
``ensure_uploaded`` after Tune's own upload on the in-process path), so a checkpoint is
registered only once its files are in storage with their sizes.

A restore reads ``state.pt`` from storage (``restore_state``); a checkpoint whose file is
missing or truncated (a registration that raced a lost upload, a storage that lost it
later) gives way to the newest complete one before it, or to a fresh start: losing a
checkpoint is the storage's fault, never the run's verdict."""

from __future__ import annotations

import io
import json
import logging
import pickle
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.fs as pafs
import torch

__all__ = [
    "IncompleteCheckpoint",
    "STATE_FILE",
    "STORAGE_OUTAGE_S",
    "VERDICT_FILE",
    "save_state",
    "load_state",
    "save_verdict",
    "load_verdict",
    "ensure_uploaded",
    "read_state",
    "restore_state",
    "retry_storage",
    "upload_checkpoint",
]

STATE_FILE = "state.pt"
VERDICT_FILE = "verdict.json"
STORAGE_OUTAGE_S = 300.0  # how long a checkpoint upload is retried before the run fails
_MAX_BACKOFF_S = 30.0

_log = logging.getLogger("ncsweep.train")
_T = TypeVar("_T")
# The name Ray (Train and Tune) gives a checkpoint folder; ours sort by the order they were
# written in (Tune: checkpoint_000003; Train V2: checkpoint_<local time of the worker>).
_CHECKPOINT_PREFIX = "checkpoint_"


class IncompleteCheckpoint(OSError):
    """A checkpoint whose ``state.pt`` is missing or unreadable (truncated) in storage."""


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
    for path in _files(local_dir):
        remote = f"{remote_dir.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
        if retry_storage(partial(_landed, path, fs, remote), f"checking {remote}"):
            continue
        _log.warning("checkpoint file %s did not reach storage; uploading it again", remote)
        retry_storage(partial(_upload, path, fs, remote), f"checkpoint upload of {remote}")


def _files(local_dir: str | Path) -> list[Path]:
    return sorted(p for p in Path(local_dir).rglob("*") if p.is_file())


def _landed(path: Path, fs: pafs.FileSystem, remote: str) -> bool:
    info = fs.get_file_info(remote)
    return bool(info.type == pafs.FileType.File and info.size == path.stat().st_size)


def _upload(path: Path, fs: pafs.FileSystem, remote: str) -> None:
    local = pafs.LocalFileSystem()
    fs.create_dir(remote.rpartition("/")[0])  # a no-op on object stores
    pafs.copy_files(str(path), remote, source_filesystem=local, destination_filesystem=fs)
    if not _landed(path, fs, remote):
        raise OSError(f"{remote} is not in storage after its upload returned")


def upload_checkpoint(local_dir: str | Path, fs: pafs.FileSystem, remote_dir: str) -> None:
    """Upload every file under ``local_dir`` to ``remote_dir`` on ``fs``, each retried and
    checked (``ensure_uploaded``): when this returns, every file is there with its size."""
    for path in _files(local_dir):
        remote = f"{remote_dir.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
        retry_storage(partial(_upload, path, fs, remote), f"checkpoint upload of {remote}")


def read_state(fs: pafs.FileSystem, checkpoint_path: str) -> dict[str, Any]:
    """The training state saved in the checkpoint at ``checkpoint_path`` on ``fs``.

    Raises:
        IncompleteCheckpoint: its ``state.pt`` is not there or does not load (truncated).
        OSError: the storage stayed unreachable for ``STORAGE_OUTAGE_S``.
    """
    remote = f"{checkpoint_path.rstrip('/')}/{STATE_FILE}"
    info = retry_storage(partial(fs.get_file_info, remote), f"checking {remote}")
    if info.type != pafs.FileType.File:
        raise IncompleteCheckpoint(f"{remote} is missing")
    data = retry_storage(partial(_read, fs, remote), f"reading {remote}")
    try:
        state: dict[str, Any] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise IncompleteCheckpoint(f"{remote} does not load ({len(data)} bytes): {err}") from err
    return state


def restore_state(
    fs: pafs.FileSystem, checkpoint_path: str
) -> tuple[dict[str, Any] | None, str | None]:
    """``(state, path)`` of the checkpoint at ``checkpoint_path`` or, when that one is
    incomplete, of the newest complete ``checkpoint_*`` beside it that was written before
    it; ``(None, None)`` when none is complete (the run starts afresh)."""
    parent, _, name = checkpoint_path.rstrip("/").rpartition("/")
    selector = pafs.FileSelector(parent, allow_not_found=True)
    listing = retry_storage(partial(fs.get_file_info, selector), f"listing {parent}")
    older = sorted(
        (
            info.path
            for info in listing
            if info.type == pafs.FileType.Directory
            and info.base_name.startswith(_CHECKPOINT_PREFIX)
            and info.base_name < name
        ),
        reverse=True,
    )
    for candidate in [checkpoint_path, *older]:
        try:
            return read_state(fs, candidate), candidate
        except IncompleteCheckpoint as err:
            _log.warning("checkpoint %s is incomplete, trying the one before: %s", candidate, err)
    _log.warning("no complete checkpoint under %s: the run starts from step 0", parent)
    return None, None


def _read(fs: pafs.FileSystem, remote: str) -> bytes:
    with fs.open_input_stream(remote) as stream:
        return bytes(stream.read())
