"""Helpers the panel renderers share."""

from __future__ import annotations

from ..data import SweepData, Trial

__all__ = ["searched_params", "params_text", "note"]


def searched_params(data: SweepData, trial: Trial) -> dict[str, str]:
    """The trial's values of its family's searched parameters (spec keys, file order)."""
    keys = [p.key for p in data.spaces.get(trial.row.family, []) if not p.is_switch]
    return {k: trial.params[k] for k in keys if k in trial.params}


def _short(text: str) -> str:
    """Floats to four significant digits (``0.10860065...`` -> ``0.1086``); others as they are."""
    try:
        value = float(text)
    except ValueError:
        return text
    return text if value.is_integer() and "." not in text else f"{value:.4g}"


def params_text(data: SweepData, trial: Trial, sep: str = ", ") -> str:
    items = searched_params(data, trial).items()
    return sep.join(f"{k}={_short(v)}" for k, v in items) or "(defaults)"


def note(text: str) -> str:
    from ..page import esc

    return f'<p class="note">{esc(text)}</p>'
