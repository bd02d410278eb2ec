"""``ncsweep study paper --from-sweep NAME``: a study at a sweep's confirmed configs.

Each family's base spec is the spec its confirmed winner trained with (the search trial the
confirmation stage re-ran over seeds, ``sweep/confirmation.py``), instead of the search
space's defaults; the study's variants and seeds then apply to it as to any base.
"""

from __future__ import annotations

from typing import Any

from ..config import SpecError
from ..sweep.confirmation import confirmed_results
from ..sweep.export import trial_spec

__all__ = ["confirmed_bases"]


def confirmed_bases(uri: str, sweep: str) -> dict[str, dict[str, Any]]:
    """``{family: spec}`` of each family's confirmed winner in sweep ``sweep``.

    Raises:
        SpecError: the sweep does not exist or has no confirmed family.
    """
    winners = {f: r.winner for f, r in confirmed_results(uri, sweep).families.items()}
    if not winners:
        raise SpecError(
            f"--from-sweep {sweep}: the sweep has no confirmation runs; run "
            f"`ncsweep confirm {sweep}` first (or give no --from-sweep to study the defaults)"
        )
    return {family: trial_spec(uri, winner.search_run_id) for family, winner in winners.items()}
