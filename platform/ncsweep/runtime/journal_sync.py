"""The Tune callback that saves each family's Optuna journal with Tune's experiment state.

The journal itself (paths, open, save, load) is ``journal.py``, which imports neither Ray
nor torch; this module is the Ray side, used by the sweep runner only.
"""

from __future__ import annotations

import logging
from functools import partial

from ray import tune

from ..train.checkpoint import retry_storage
from .journal import save_study

_log = logging.getLogger("ncsweep.sweep")

__all__ = ["StudySync"]


class StudySync(tune.Callback):
    """Saves the family's journal to storage together with Tune's experiment state."""

    def __init__(self, storage: str, name: str, family: str):
        self.storage, self.name, self.family = storage, name, family

    def get_state(self) -> None:
        try:
            save_study(self.storage, self.name, self.family)
        except Exception as err:  # noqa: BLE001 - Tune would end the sweep; fsspec raises any type
            _log.warning(
                "Optuna study of family %s not saved to storage (the next save tries again): %s",
                self.family,
                err,
            )
        return None

    def on_experiment_end(self, trials, **info) -> None:
        retry_storage(
            partial(save_study, self.storage, self.name, self.family),
            f"saving the Optuna study of family {self.family}",
            errors=(Exception,),
        )
