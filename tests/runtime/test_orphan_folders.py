"""Issue 28: ``drop_orphans`` keeps the folder of a FINISHED run Tune does not know also in a
study, whose trial key is the cell (``key_format="{cell}"``), not the Tune id of the folder
``trial_<id>``: the key is read from the config Tune wrote there. In-memory tracking store,
a local folder, no Ray."""

from __future__ import annotations

import json
import uuid

from ncsweep.runtime.evaluation_runs import TAG_STUDY
from ncsweep.runtime.ownership import owner_tags
from ncsweep.runtime.trial import TrialContext
from ncsweep.runtime.tuning import drop_orphans, open_parent
from ncsweep.status import RunState
from ncsweep.tracking import TAG_KIND, TAG_ORPHANED, TAG_TRIAL, open_store
from ncsweep.tracking.memory_store import drop_memory_store


def test_a_studys_finished_orphan_keeps_its_folder_and_an_unfinished_ones_go(tmp_path):
    uri = f"memory://orphans-{uuid.uuid4().hex[:8]}"
    storage = str(tmp_path / "ray")
    folder = tmp_path / "ray" / "st" / "cells"
    try:
        experiment_id, parent = open_parent(uri, "st", TAG_STUDY, "study", {}, storage)
        owner = tuple(owner_tags(storage, "st").items())
        context = TrialContext(
            "st", TAG_STUDY, uri, experiment_id, parent, key_format="{cell}", owner=owner
        )
        store = open_store(uri)
        runs = {}
        for tune_id, cell, status in (("a1", "ce-s0", "FINISHED"), ("b2", "ce-s1", "RUNNING")):
            tags = {TAG_STUDY: "st", TAG_KIND: "train", TAG_TRIAL: cell, **dict(owner)}
            runs[cell] = store.create_run(experiment_id, cell, tags).run_id
            if status == "FINISHED":
                store.end_run(runs[cell], status)
            (folder / f"trial_{tune_id}").mkdir(parents=True)
            (folder / f"trial_{tune_id}" / "params.json").write_text(json.dumps({"cell": cell}))
        (tmp_path / "train" / "ce-s1").mkdir(parents=True)  # the unfinished cell's Ray Train run
        drop_orphans(context, [], str(folder), str(tmp_path / "train"), {})
        assert (folder / "trial_a1").is_dir()  # the finished cell's folder stays
        kept = store.get_run(runs["ce-s0"])
        assert kept.status == RunState.FINISHED and TAG_ORPHANED in kept.tags
        assert not (folder / "trial_b2").exists() and not (tmp_path / "train" / "ce-s1").exists()
    finally:
        drop_memory_store(uri)
