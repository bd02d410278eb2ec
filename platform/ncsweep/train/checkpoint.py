"""Training state on disk: one ``state.pt`` per checkpoint, read with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["STATE_FILE", "save_state", "load_state"]

STATE_FILE = "state.pt"


def save_state(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write tensors, numbers, strings and plain containers (nothing that needs pickle code)."""
    path = Path(directory) / STATE_FILE
    torch.save(state, path)
    return path


def load_state(directory: str | Path) -> dict[str, Any]:
    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)
