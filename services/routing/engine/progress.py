"""One best-so-far progress stream, merged from every engine of a solve."""

from __future__ import annotations

import logging
import threading
import time

from .model import Progress, ProgressCallback

log = logging.getLogger(__name__)


class Reporter:
    """Merges progress from every engine into one monotone best-so-far stream."""

    def __init__(self, callback: ProgressCallback | None, offset: int, started: float | None = None) -> None:
        self._cb = callback
        self._offset = offset  # penalty of stops rejected before solving
        self._t0 = time.monotonic() if started is None else started
        self._lock = threading.Lock()
        self.best: int | None = None
        self.found = 0

    def improvement(self, objective: int, source: str, *, absolute: bool = False) -> None:
        cost = objective if absolute else objective + self._offset
        with self._lock:
            self.found += 1
            if self.best is not None and cost >= self.best:
                return
            self.best = cost
            progress = Progress(time.monotonic() - self._t0, cost, self.found, source)
        if self._cb is not None:
            try:
                self._cb(progress)
            except Exception:  # a broken observer must not kill the solve
                log.exception("on_progress callback failed")

    def elapsed(self) -> float:
        return time.monotonic() - self._t0
