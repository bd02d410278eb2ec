"""Where a Tune callback pickled empty finds what it works on: a value the driver sets for
its own thread around ``Tuner.fit()``. Tune calls a run's callbacks in the thread that runs
``fit()``, so families fitted at once (each in its own thread) each see their own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["ThreadTarget"]

T = TypeVar("T")


class ThreadTarget(Generic[T]):
    """A value per thread, set while a block runs (:meth:`setting`), else None."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def setting(self, value: T) -> Iterator[T]:
        previous = self.get()
        self._local.value = value
        try:
            yield value
        finally:
            self._local.value = previous

    def get(self) -> T | None:
        return getattr(self._local, "value", None)
