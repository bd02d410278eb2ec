"""The Tune callback that saves each family's Optuna journal with Tune's experiment state.

The journal itself (paths, open, save, load) is ``journal.py``, which imports neither Ray
nor torch; this module is the Ray side, used by the sweep runner only.

Uploads run in a thread of their own: Tune's callbacks run on the driver's loop, and a
driver that does not answer for 60 s (a journal upload to a slow S3) makes Ray Train stop
a healthy trial as if it had died.

Each upload is fenced (``journal.save_study``): one refused because this driver lost the
sweep's lease is logged, as a failed upload is, and the last one raises ``LeaseLost`` at
once on Tune's loop (no outage to wait out), which ends the sweep resumable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ray import tune

from ..train.checkpoint import retry_storage
from .journal import save_study
from .lease import LeaseLost

_log = logging.getLogger("ncsweep.sweep")

__all__ = ["StudySync"]


class _Uploader:
    """Runs ``upload`` in one background thread whenever :meth:`request` asks; the asks
    that arrive during an upload are served by one upload after it (a single pending
    flag: each upload sends the whole journal as it is then). :meth:`close` waits for the
    upload under way, then uploads once more with ``final`` (pending asks included) and
    raises what that raised. Called from one thread (Tune's loop)."""

    def __init__(self, upload: Callable[[], None], final: Callable[[], None], family: str):
        self._upload, self._final, self._family = upload, final, family
        self._wake = threading.Condition()
        self._pending = self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._serve, name=f"ncsweep-journal-{family}", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        with self._wake:
            self._pending = True
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        while True:
            with self._wake:
                while not (self._pending or self._closing):
                    self._wake.wait()
                self._pending = False
                closing = self._closing
            if closing:
                try:
                    self._final()
                except BaseException as err:  # noqa: BLE001 - raised by close(), on Tune's loop
                    self._error = err
                return
            try:
                self._upload()
            except Exception as err:  # noqa: BLE001 - fsspec raises any type
                _log.warning(
                    "Optuna study of family %s not saved to storage (the next save tries "
                    "again): %s",
                    self._family,
                    err,
                )


class StudySync(tune.Callback):
    """Saves the family's journal to storage together with Tune's experiment state, in the
    background (:class:`_Uploader`); at the end of the experiment (also when it is
    stopped: Tune's cleanup calls ``on_experiment_end``) it waits for that upload and
    saves once more, waiting out an outage (``retry_storage``)."""

    _uploader: _Uploader | None = None  # started by the first save; never pickled

    def __init__(self, storage: str, name: str, family: str):
        self.storage, self.name, self.family = storage, name, family

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "_uploader"}

    def get_state(self) -> None:
        if self._uploader is None:
            self._uploader = _Uploader(self._save, self._save_waiting, self.family)
        self._uploader.request()
        return None

    def on_experiment_end(self, trials, **info) -> None:
        uploader, self._uploader = self._uploader, None
        if uploader is not None:
            uploader.close()
        else:
            self._save_waiting()

    def _save(self) -> None:
        save_study(self.storage, self.name, self.family)

    def _save_waiting(self) -> None:
        lost: list[LeaseLost] = []

        def save() -> None:
            try:
                self._save()
            except LeaseLost as err:  # a refused fence, not an outage: never retried
                lost.append(err)

        retry_storage(save, self._what, errors=(Exception,))
        if lost:
            raise lost[0]

    @property
    def _what(self) -> str:
        return f"saving the Optuna study of family {self.family}"
