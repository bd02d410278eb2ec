"""The terminal during a sweep: one live view instead of Ray Tune's tables and Ray's logs.

:class:`SweepView` keeps, per family, the trials finished / running / pending / stopped
early / failed, the best accuracy and NC objective so far, the elapsed time and an estimate
of what remains. On a terminal it is one ``rich.live.Live`` table redrawn in place; without
one (a ``ray job submit`` log, a pipe) it prints one plain line per trial event.

It is fed by :class:`TuneFeed`, a ``tune.Callback`` in each family's ``RunConfig``. Tune
pickles its callbacks with the experiment state, so the feed holds only the family name and
talks to whichever view is active in this process (a restored Tuner feeds the new view).

:func:`route_ray_output` sends Ray's own output (driver-side log records, the worker output
Ray forwards to the driver, Tune's own prints) to a log file in the sweep's folder, with
public means only (``sys.stdout`` swapped, the console pinned to the terminal);
``--verbose`` shows it on the terminal as well.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ray import tune
from rich.console import Console, Group
from rich.file_proxy import FileProxy
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..defaults import DEFAULT_STORAGE
from ..metric_keys import STATUS
from ..plan.objectives import ACCURACY, NC_STEPS
from ..status import RunState
from ..train.core import STATUS_DONE, STATUS_FAILED

__all__ = ["FamilyProgress", "SweepView", "TuneFeed", "route_ray_output", "sweep_log_path"]

_active: SweepView | None = None


@dataclass
class FamilyProgress:
    budget: int
    running: set[str] = field(default_factory=set)
    finished: int = 0
    stopped: int = 0
    failed: int = 0
    retried: int = 0  # restarts after an infrastructure failure (not an outcome)
    best_acc: float | None = None
    best_nc: float | None = None
    durations: list[float] = field(default_factory=list)
    started_at: dict[str, float] = field(default_factory=dict)

    @property
    def ended(self) -> int:
        return self.finished + self.stopped + self.failed

    @property
    def pending(self) -> int:
        return max(0, self.budget - self.ended - len(self.running))


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class SweepView:
    """Live status of a sweep; a context manager (``with SweepView(...) as view``)."""

    def __init__(
        self,
        console: Console,
        name: str,
        families: list[str],
        trials: int,
        concurrency: int = 1,
        live: bool | None = None,
        stage: str | None = None,
    ):
        """``trials``: each family's budget; ``stage``: a label shown in the title and in
        each plain line (the confirmation stage's view is ``confirm``)."""
        self.console = console
        self.name = name
        self.stage = stage
        self.concurrency = max(1, concurrency)
        self.families = {f: FamilyProgress(trials) for f in families}
        self.live = console.is_terminal if live is None else live
        self.start = time.monotonic()
        self._live: Live | None = None
        self._lock = threading.RLock()  # families run in parallel feed it from their threads

    # -- feeding ---------------------------------------------------------------------------
    def seed_rows(self, rows) -> None:
        """Count the trials MLflow holds from before this process (a resumed sweep)."""
        for row in rows:
            fam = self.families.get(row.family)
            if fam is None or row.status == RunState.RUNNING:
                continue
            if row.status == RunState.FAILED:
                fam.failed += 1
            elif row.complete:
                fam.finished += 1
            else:
                fam.stopped += 1
            if row.acc1 is not None and (fam.best_acc is None or row.acc1 > fam.best_acc):
                fam.best_acc = row.acc1
            if row.nc_steps is not None and (fam.best_nc is None or row.nc_steps < fam.best_nc):
                fam.best_nc = row.nc_steps

    def trial_started(self, family: str, trial_id: str) -> None:
        with self._lock:
            fam = self.families[family]
            fam.running.add(trial_id)
            fam.started_at.setdefault(trial_id, time.monotonic())
            self._event(f"{family} {trial_id} started")

    def trial_result(self, family: str, trial_id: str, result: dict) -> None:
        with self._lock:
            fam = self.families[family]
            acc, nc = result.get(ACCURACY), result.get(NC_STEPS)
            if isinstance(acc, int | float) and (fam.best_acc is None or acc > fam.best_acc):
                fam.best_acc = float(acc)
            if isinstance(nc, int | float) and (fam.best_nc is None or nc < fam.best_nc):
                fam.best_nc = float(nc)
            self._refresh()

    def trial_ended(self, family: str, trial_id: str, outcome: str, result: dict | None) -> None:
        """``outcome``: finished, stopped or failed."""
        with self._lock:
            fam = self.families[family]
            fam.running.discard(trial_id)
            setattr(fam, outcome, getattr(fam, outcome) + 1)
            if trial_id in fam.started_at:
                fam.durations.append(time.monotonic() - fam.started_at.pop(trial_id))
            result = result or {}
            acc, nc = result.get(ACCURACY), result.get(NC_STEPS)
            detail = ""
            if acc is not None:
                detail += f" {ACCURACY}={acc:.4f}"
            if nc is not None:
                detail += f" NC steps={nc:.0f}"
            self._event(f"{family} {trial_id} {outcome}{detail}")

    def trial_retried(self, family: str, trial_id: str) -> None:
        """Tune restarts the trial after an infrastructure failure (node or actor lost)."""
        with self._lock:
            self.families[family].retried += 1
            self._event(
                f"{family} {trial_id} lost its node or worker: retrying from its last checkpoint"
            )

    def restarts(self) -> int:
        """Trial restarts after infrastructure failures seen by this view."""
        return sum(f.retried for f in self.families.values())

    # -- estimates ---------------------------------------------------------------------------
    def remaining_s(self) -> float | None:
        """Mean trial duration so far × trials not ended / trials at once."""
        durations = [d for f in self.families.values() for d in f.durations]
        if not durations:
            return None
        left = sum(f.budget - f.ended for f in self.families.values())
        return sum(durations) / len(durations) * left / self.concurrency

    # -- drawing ---------------------------------------------------------------------------
    def table(self) -> Table:
        elapsed = time.monotonic() - self.start
        table = Table(
            title=f"sweep {self.name}" + (f": {self.stage}" if self.stage else ""),
            caption=f"elapsed {_fmt_time(elapsed)}, about {_fmt_time(self.remaining_s())} to go",
        )
        for column in ("family", "finished", "running", "pending", "stopped", "failed", "retried"):
            table.add_column(column, justify="left" if column == "family" else "right")
        table.add_column(f"best {ACCURACY}", justify="right")
        table.add_column("best NC steps", justify="right")
        for name, f in self.families.items():
            table.add_row(
                name,
                str(f.finished),
                str(len(f.running)),
                str(f.pending),
                str(f.stopped),
                str(f.failed),
                str(f.retried),
                "–" if f.best_acc is None else f"{f.best_acc:.4f}",
                "–" if f.best_nc is None else f"{f.best_nc:.0f}",
            )
        return table

    def summary_line(self) -> str:
        parts = [
            f"{n} {f.finished}/{len(f.running)}/{f.pending}/{f.stopped}/{f.failed}"
            for n, f in self.families.items()
        ]
        return (
            f"[{_fmt_time(time.monotonic() - self.start)}] "
            + (f"{self.stage}: " if self.stage else "")
            + "finished/running/pending/stopped/"
            f"failed: {', '.join(parts)}; ~{_fmt_time(self.remaining_s())} to go"
        )

    def _event(self, text: str) -> None:
        if self._live is not None:
            self._live.console.log(text)
            self._refresh()
        else:
            stamp = _fmt_time(time.monotonic() - self.start)
            self.console.print(
                f"[{stamp}] {text} | {self.summary_line()}", highlight=False, soft_wrap=True
            )

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(Group(self.table(), Text("")))

    def __enter__(self) -> SweepView:
        global _active
        _active = self
        if self.live:
            # sys.stdout stays what route_ray_output made it: Ray's output is not the view's
            self._live = Live(
                self.table(),
                console=self.console,
                refresh_per_second=2,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.__enter__()
        else:
            self.console.print(self.summary_line(), highlight=False, soft_wrap=True)
        return self

    def __exit__(self, *exc) -> None:
        global _active
        if self._live is not None:
            self._live.update(self.table())
            self._live.__exit__(*exc)
            self._live = None
        else:
            self.console.print(self.summary_line(), highlight=False, soft_wrap=True)
        _active = None


# a trial's last ``status`` -> how it ended (any other: stopped early by the scheduler)
_OUTCOMES = {STATUS_DONE: "finished", STATUS_FAILED: "failed"}


class TuneFeed(tune.Callback):
    """Feeds the active :class:`SweepView` from Tune's trial events (pickles as its family)."""

    def __init__(self, family: str):
        self.family = family

    def __getstate__(self) -> dict:
        return {"family": self.family}

    def _view(self) -> SweepView | None:
        view = _active
        return view if view is not None and self.family in view.families else None

    def on_trial_start(self, iteration, trials, trial, **info):
        if view := self._view():
            view.trial_started(self.family, trial.trial_id)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if view := self._view():
            view.trial_result(self.family, trial.trial_id, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        if view := self._view():
            last = trial.last_result or {}
            outcome = _OUTCOMES.get(last.get(STATUS), "stopped")
            view.trial_ended(self.family, trial.trial_id, outcome, last)

    def on_trial_recover(self, iteration, trials, trial, **info):
        if view := self._view():
            view.trial_retried(self.family, trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        if view := self._view():
            view.trial_ended(self.family, trial.trial_id, "failed", trial.last_result)


def sweep_log_path(storage: str, name: str) -> Path:
    """``<storage>/<name>/ray.log`` for local storage, else ``./ray_results/<name>/ray.log``."""
    root = Path(storage) if "://" not in storage else Path(DEFAULT_STORAGE)
    return root / name / "ray.log"


_LOGGERS = ("ray", "ray.tune", "ray.train", "ray.data", "optuna")


class _Tee(io.TextIOBase):
    """Writes to every stream it holds (``--verbose``: the log file and the terminal)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def _pinned(console: Console):
    """``console`` keeps writing where it writes now while ``sys.stdout`` is swapped.

    A console made without a file follows ``sys.stdout``/``sys.stderr``; it follows them
    again afterwards (a test runner swaps them between commands)."""
    current = console.file
    follows = current is (sys.stderr if console.stderr else sys.stdout)
    console.file = current
    try:
        yield current
    finally:
        if follows:
            # None: follow sys.stdout/stderr again (rich's setter is annotated IO[str] only)
            console.file = None  # type: ignore[assignment]


@contextlib.contextmanager
def route_ray_output(log_path: Path, console: Console, verbose: bool = False):
    """Everything this process prints, except through ``console``, goes to ``log_path``.

    Ray prints the output of workers (``log_to_driver``) and raylet warnings to
    ``sys.stdout``/``sys.stderr``, and Tune its configuration box and hints with ``print``:
    both streams point at the file while ``console`` stays on the terminal. Ray's (and
    Optuna's) loggers write the file too and stop propagating to their console handlers.
    With ``verbose`` all of it also reaches the terminal, above the live view.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1) as handle, _pinned(console) as terminal:
        stream = _Tee(handle, FileProxy(console, terminal)) if verbose else handle
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        saved = {}
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            saved[name] = (list(logger.handlers), logger.propagate)
            if not verbose:
                logger.handlers[:] = []
                logger.propagate = False
            logger.addHandler(handler)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield log_path
        finally:
            stream.flush()
            for name, (handlers, propagate) in saved.items():
                logger = logging.getLogger(name)
                logger.handlers[:] = handlers
                logger.propagate = propagate
