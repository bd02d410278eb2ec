"""A restore that meets an incomplete checkpoint takes the newest complete one before it."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest
import torch

from ncsweep.train.checkpoint import (
    STATE_FILE,
    IncompleteCheckpoint,
    read_state,
    restore_state,
    save_state,
    upload_checkpoint,
)


def _checkpoint(root, name: str, step: int):
    folder = root / name
    folder.mkdir(parents=True)
    save_state(folder, {"step": step, "w": torch.arange(1000.0)})
    return folder


def test_missing_and_truncated_state_fall_back_to_the_previous_complete_checkpoint(tmp_path):
    fs = pafs.LocalFileSystem()
    _checkpoint(tmp_path, "checkpoint_000000", 4)
    _checkpoint(tmp_path, "checkpoint_000001", 8)
    truncated = _checkpoint(tmp_path, "checkpoint_000002", 12) / STATE_FILE
    truncated.write_bytes(truncated.read_bytes()[:300])
    (tmp_path / "checkpoint_000003").mkdir()  # registered, its state.pt lost
    _checkpoint(tmp_path, "checkpoint_000004", 20)  # newer than the one restored: not taken

    state, path = restore_state(fs, str(tmp_path / "checkpoint_000003"))
    assert path == str(tmp_path / "checkpoint_000001")
    assert state["step"] == 8 and torch.equal(state["w"], torch.arange(1000.0))
    for broken in ("checkpoint_000002", "checkpoint_000003"):
        with pytest.raises(IncompleteCheckpoint):
            read_state(fs, str(tmp_path / broken))


def test_no_complete_checkpoint_is_a_fresh_start(tmp_path):
    (tmp_path / "checkpoint_000000").mkdir()
    assert restore_state(pafs.LocalFileSystem(), str(tmp_path / "checkpoint_000000")) == (
        None,
        None,
    )


def test_upload_checkpoint_leaves_every_file_at_its_size(tmp_path):
    source = _checkpoint(tmp_path / "local", "ckpt", 3)
    (source / "extra" / "deep").mkdir(parents=True)
    (source / "extra" / "deep" / "note.txt").write_text("x" * 77)
    remote = tmp_path / "remote" / "checkpoint_000000"
    upload_checkpoint(source, pafs.LocalFileSystem(), str(remote))
    for path in source.rglob("*"):
        if path.is_file():
            copy = remote / path.relative_to(source)
            assert copy.stat().st_size == path.stat().st_size
    assert read_state(pafs.LocalFileSystem(), str(remote))["step"] == 3
