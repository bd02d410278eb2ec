"""Training state on disk: one ``state.pt`` per checkpoint, read with ``weights_only=True``;
or, for a run that ended itself (a non-finite loss), its verdict in ``verdict.json``.

Ray Train's ``Result.metrics`` are those of the latest *checkpoint*, so a run's verdict
travels back to the driver as a checkpoint; restored, it ends the run again without
training (the failure is deterministic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

__all__ = ["STATE_FILE", "VERDICT_FILE", "save_state", "load_state", "save_verdict", "load_verdict"]

STATE_FILE = "state.pt"
VERDICT_FILE = "verdict.json"


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
