"""Which Tune experiment state a restore reads: chosen by lineage, never by clock.

Tune saves a run's state as ``experiment_state-<driver's local time>.json``, a new file
per driver session, and restores the newest name. A driver whose clock or time zone sorts
differently therefore restored an older session, and the newer session's trials then
looked orphaned. Here the driver records, after each ``fit()``, which file its session
wrote (``ncsweep_state.json`` beside them: the file and the lease generation) and removes
the others. A restore (:func:`current`) keeps the file holding the most ended trials (ties:
one written after the recorded file, i.e. by a session killed before it could record, which
continued from the recorded state; then the recorded one) and removes the others under the
lease, so that Tune finds exactly one. ``restore_or_build`` refuses a state that lacks trials
MLflow has as FINISHED when another state file holds them; when none does, it restores it
and keeps those runs as orphaned.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Iterator

import fsspec

from .lease import fence, held_generation

__all__ = ["RECORD_FILE", "candidates", "current", "keep_only", "recording", "state_trials"]

RECORD_FILE = "ncsweep_state.json"
_PATTERN = "experiment_state-*.json"
_ENDED = ("TERMINATED", "ERROR")


def _states(fs, path: str) -> set[str]:
    fs.invalidate_cache()
    if not fs.exists(path):
        return set()
    names = (entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False))
    return set(fnmatch.filter(names, _PATTERN))


def _recorded(fs, path: str) -> str | None:
    try:
        return json.loads(fs.cat_file(f"{path}/{RECORD_FILE}"))["file"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def state_trials(folder: str, filename: str) -> list[tuple[str, dict, str]]:
    """``(trial_id, config, status)`` of each trial in state file ``filename``."""
    from ray.tune.experiment.trial import Trial
    from ray.tune.utils.serialization import _loads_with_cloudpickle

    fs, path = fsspec.core.url_to_fs(folder)
    state = _loads_with_cloudpickle(fs.cat_file(f"{path}/{filename}").decode())
    trials = []
    for json_state, _ in state["trial_data"]:
        trial = Trial.from_json_state(json_state, stub=True)
        trials.append((trial.trial_id, dict(trial.config), trial.status))
    return trials


def _ended(folder: str, name: str) -> int:
    """How many trials state file ``name`` holds as ended (-1: unreadable)."""
    try:
        return sum(status in _ENDED for *_, status in state_trials(folder, name))
    except Exception:  # a file cut short by a killed driver: least preferred
        return -1


def _remove_others(fs, path: str, folder: str, names: set[str], keep: str) -> None:
    for name in sorted(names - {keep}):
        fence(folder, f"removing Tune state {name}")
        fs.rm(f"{path}/{name}")


def candidates(folder: str) -> tuple[str | None, list[str]]:
    """The state file a restore of Tune's run in ``folder`` must read (None: no state) and
    the other state files there, removed by nothing yet.

    The recorded file (the last session that ended) unless another holds more ended
    trials, or as many: a session killed before it could record continued from the
    recorded state, so it holds at least as much. Never the newest name by itself.
    """
    fs, path = fsspec.core.url_to_fs(folder)
    names = _states(fs, path)
    if not names:
        return None, []
    recorded = _recorded(fs, path)
    if len(names) == 1:
        (chosen,) = names
    else:
        chosen = max(names, key=lambda name: (_ended(folder, name), name != recorded, name))
    return chosen, sorted(names - {chosen})


def keep_only(folder: str, chosen: str) -> None:
    """Remove every state file in ``folder`` but ``chosen`` (fenced: only the lease holder
    removes), so that Tune restores ``chosen``."""
    fs, path = fsspec.core.url_to_fs(folder)
    _remove_others(fs, path, folder, _states(fs, path), chosen)


def current(folder: str) -> str | None:
    """:func:`candidates`' choice, after removing the others (:func:`keep_only`)."""
    chosen, _ = candidates(folder)
    if chosen is not None:
        keep_only(folder, chosen)
    return chosen


@contextlib.contextmanager
def recording(folder: str) -> Iterator[None]:
    """Around a ``fit()`` of Tune's run in ``folder``: afterwards, record the state file
    this session wrote (the one that was not there before) with the lease generation."""
    fs, path = fsspec.core.url_to_fs(folder)
    before = _states(fs, path)
    try:
        yield
    finally:
        written = _states(fs, path) - before
        if len(written) == 1:
            (name,) = written
            record = {"file": name, "generation": held_generation(folder)}
            fence(folder, "recording Tune's state")
            fs.pipe_file(f"{path}/{RECORD_FILE}", json.dumps(record).encode())
            # only the current state stays: the next restore cannot pick an older one
            _remove_others(fs, path, folder, _states(fs, path), name)
