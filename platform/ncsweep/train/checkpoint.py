"""Training state on disk: one ``state.pt`` per checkpoint, read with ``weights_only=True``;
or, for a run that ended itself (a non-finite loss), its verdict in ``verdict.json``.

Ray Train's ``Result.metrics`` are those of the latest *checkpoint*, so a run's verdict
travels back to the driver as a checkpoint; restored, it ends the run again without
training (the failure is deterministic).

Uploading a checkpoint to the run's storage (S3 and the like) survives an outage of up to
``STORAGE_OUTAGE_S`` seconds (``retry_storage``); pyarrow's own S3 client gives up after
three quick attempts, which would fail the trial on a blip of a few seconds."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

__all__ = [
    "STATE_FILE",
    "STORAGE_OUTAGE_S",
    "VERDICT_FILE",
    "save_state",
    "load_state",
    "save_verdict",
    "load_verdict",
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
    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


def save_verdict(directory: str | Path, metrics: dict[str, Any]) -> Path:
    path = Path(directory) / VERDICT_FILE
    path.write_text(json.dumps(metrics))
    return path


def load_verdict(directory: str | Path) -> dict[str, Any] | None:
    """The verdict saved in ``directory``, or None for a training-state checkpoint."""
    path = Path(directory) / VERDICT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def retry_storage(write: Callable[[], _T], what: str, patience_s: float = STORAGE_OUTAGE_S) -> _T:
    """``write()`` (an upload to the run's storage), tried again on ``OSError`` (pyarrow's
    error for an unreachable or failing S3) after 1, 2, 4 ... 30 s, for ``patience_s`` in
    all; then an ``OSError`` that says what failed for how long, with the last error."""
    deadline = time.monotonic() + patience_s
    delay = 1.0
    while True:
        try:
            return write()
        except (FileNotFoundError, PermissionError):  # a local file: no outage to wait out
            raise
        except OSError as err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError(
                    f"{what} failed for {patience_s:.0f} s (STORAGE_OUTAGE_S in "
                    f"ncsweep/train/checkpoint.py): {err}"
                ) from err
            _log.warning("%s failed, trying again in %.0f s: %s", what, min(delay, left), err)
            time.sleep(min(delay, left))
            delay = min(2 * delay, _MAX_BACKOFF_S)
