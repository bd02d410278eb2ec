"""``ncsweep sweep NAME`` for a name that already exists in its storage: refused.

Running it again would restore the first sweep's studies (whose budget is spent), run
nothing, and print the first sweep's results as this one's. So a new sweep whose name has
saved settings (``<storage>/<name>/sweep.yaml``) exits 2, listing which settings differ,
and points to ``ncsweep resume NAME`` or a new name.
"""

from __future__ import annotations

from typing import Any

from ..config import SpecError, flatten
from ..plan.state import STATE_FILE, SweepConfig, load_yaml, sweep_dir
from ..redact import redact, redact_text

__all__ = ["refuse_existing", "settings_differ"]


def settings_differ(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``key: saved -> now`` for each (flattened) setting whose values differ."""
    before, after = flatten(saved), flatten(now)
    missing = "(unset)"
    return [
        f"{key}: {before.get(key, missing)!r} -> {after.get(key, missing)!r}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key, missing) != after.get(key, missing)
    ]


def refuse_existing(cfg: SweepConfig) -> None:
    """Raise SpecError (exit 2) if sweep ``cfg.name`` already exists in ``cfg.storage``."""
    saved = load_yaml(cfg.storage, cfg.name, STATE_FILE)
    if saved is None:
        return
    now = redact(cfg.model_dump(mode="json"))  # as saved: credentials redacted
    assert isinstance(now, dict)
    differ = settings_differ(saved, now)
    shown = "; ".join(differ) if differ else "none (the same settings)"
    raise SpecError(
        f"sweep {cfg.name!r} already exists under storage {redact_text(cfg.storage)} "
        f"({sweep_dir(redact_text(cfg.storage), cfg.name)}/{STATE_FILE}). Settings that differ "
        f"from its saved ones: {shown}. Continue it with `ncsweep resume {cfg.name}` "
        f"(or `ncsweep sweep --resume --name {cfg.name}`), or pass another --name for a new "
        f"sweep."
    )
