"""A trial's hyper-parameter changes in its MLflow run (population-based schedulers).

When a trial restarts from a checkpoint that was trained with other hyper-parameters (PBT
or PB2 cloned a better trial's checkpoint into it with mutated values), the training core
records the change in the run's lineage (``train/hyperparameters.py``); here the run gets:

- ``pbt/mutations.json``: every change of the lineage, in step order, each
  ``{step, overrides (new values), previous (old values), trial, from_trial}``; the changes
  the cloned trial made before are part of the final model's history, so they are listed;
- tags ``ncsweep.pbt.mutations`` (how many), ``ncsweep.pbt.last_step`` and
  ``ncsweep.pbt.cloned_from`` (the trial whose checkpoint the last change continued);
- ``spec.yaml`` replaced by the spec that trains this model again from step 0: the
  lineage's start values and its ``hyperparameter_schedule`` (what ``ncsweep export``
  writes and ``ncsweep train --config`` replays).

The run's params keep the values the trial was first sampled with (MLflow params never
change); the tags and the artifact say what it trained with.
"""

from __future__ import annotations

import json

from ..config import dump_spec, spec_from_dict
from ..tracking import log_text, set_tags
from ..train.core import TrainingCore

__all__ = ["MUTATIONS_ARTIFACT", "record_mutations"]

MUTATIONS_ARTIFACT = "pbt/mutations.json"


def record_mutations(tracking: dict[str, str], core: TrainingCore) -> bool:
    """Record ``core``'s lineage of changes (module docstring) when its restore made one or
    brought one along: a trial that a resumed driver restarts from a mutated checkpoint has
    just re-logged its first ``spec.yaml`` (``trainer.open_run``), which this replaces again.
    True if there was anything to record."""
    changes = core.lineage.changes
    if not changes:
        return False
    change = core.restored_change or changes[-1]
    uri, run_id = tracking["uri"], tracking["run_id"]
    log_text(uri, run_id, json.dumps(changes, indent=1, sort_keys=True), MUTATIONS_ARTIFACT)
    replay = spec_from_dict(core.lineage.replay_spec(core.spec), "the trial's lineage")
    log_text(uri, run_id, dump_spec(replay), "spec.yaml")
    set_tags(
        uri,
        run_id,
        {
            "ncsweep.pbt.mutations": len(changes),
            "ncsweep.pbt.last_step": change["step"],
            "ncsweep.pbt.cloned_from": change["from_trial"],
        },
    )
    return True
