"""Reading a finished run: its spec (also one written before loss options were per family)
and its checkpoint location (Ray reports S3 paths without the scheme)."""

from __future__ import annotations

from ncsweep.config import load_spec
from ncsweep.runtime.evaluation_runs import _checkpoint_uri, _spec_of


def test_a_spec_written_with_every_loss_option_is_read_with_the_familys_own():
    legacy = {
        "loss": {
            "name": "nonl",
            "temperature": 0.2,
            "anchor": "prototype",
            "base_temperature": None,
            "label_smoothing": 0.0,
        },
        "run": {"epochs": 3},
    }
    spec = _spec_of(legacy, "old run")
    assert spec.loss.name == "nonl" and spec.loss.temperature == 0.2
    assert spec.run.epochs == 3


def test_s3_checkpoint_paths_get_their_scheme_back():
    spec = load_spec(None, ["run.storage_path=s3://bucket/ray"])
    tag = {"ncsweep.checkpoint": "bucket/ray/run/checkpoint_000001"}
    assert _checkpoint_uri(tag, spec) == "s3://bucket/ray/run/checkpoint_000001"
    local = load_spec(None, ["run.storage_path=/data/ray"])
    assert _checkpoint_uri({"ncsweep.checkpoint": "/data/ray/x"}, local) == "/data/ray/x"
    assert _checkpoint_uri({}, local) is None
