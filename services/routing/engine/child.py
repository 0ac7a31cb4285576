"""A worker process of the engine and the pipe its lines come back on (both ends).

Why ``subprocess`` rather than ``multiprocessing``: the service already calls :func:`solve`
inside a ``ProcessPoolExecutor`` worker, where fork-safety and daemonic-process rules would
bite; a plain child with pipes works anywhere, needs no signal handlers, and is killed when
its time (plus a grace period) is over.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO

log = logging.getLogger(__name__)

#: Extra time a child gets to send its results after its deadline.
GRACE_S = 2.0
#: Minimum seconds between two progress lines of one solve (its last best always goes out).
PROGRESS_EVERY_S = 0.1


class ProgressLines:
    """The child's end: ``P <tag> <cost> [<source>]`` for a solve's new bests, a few per second
    at most, so that a fast engine does not flood the pipe; :meth:`flush` sends the best held
    back. Called as an engine's ``on_improvement(cost, ...)``, or :meth:`best` with a source."""

    def __init__(self, out: IO[str], tag: str) -> None:
        self._out = out
        self._tag = tag
        self._last = 0.0
        self._pending: tuple[int, str] | None = None

    def __call__(self, cost: int, *_: object) -> None:
        self.best(cost)

    def best(self, cost: int, source: str = "") -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._emit(cost, source)
            self._last = now
        else:
            self._pending = (cost, source)

    def _emit(self, cost: int, source: str) -> None:
        self._out.write(f"P {self._tag} {cost} {source}".rstrip() + "\n")
        self._out.flush()
        self._pending = None

    def flush(self) -> None:
        if self._pending is not None:
            self._emit(*self._pending)


class Child:
    """``python -m <package>.<module>`` fed ``inputs`` (pickled, in order) on stdin; each line
    it writes goes to :meth:`line` on a reader thread until it writes ``D``."""

    def __init__(self, module: str, inputs: list[object], deadline: float, name: str, blob: bytes = b"") -> None:
        """``deadline``: wall clock (``time.time()``); ``blob``: bytes written before ``inputs``
        (an instance pickled once for two children)."""
        self.name = name
        self.deadline = deadline
        self.delivered = False
        self.done = threading.Event()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # import this package as we did
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.{module}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, name=f"engine-{name}", daemon=True)
        self._reader.start()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(blob)
            for item in inputs:
                pickle.dump(item, self.proc.stdin, pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.close()
        except BrokenPipeError:
            log.warning("engine worker %s exited before reading its input", name)

    def line(self, kind: str, rest: str) -> None:
        """One line of the child's (``kind``: its first word); ``R`` lines are results."""
        raise NotImplementedError

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:
                kind, _, rest = raw.decode().strip().partition(" ")
                if kind == "D":
                    break  # do not wait for the child's interpreter shutdown
                self.line(kind, rest)
                self.delivered = self.delivered or kind == "R"
        except Exception:  # a garbled pipe only costs us this child's work
            log.exception("reading engine worker %s failed", self.name)
        finally:
            self.done.set()

    def wait(self) -> None:
        """Until the child is done or its deadline and grace are over; then it is stopped."""
        self.done.wait(max(0.0, self.deadline - time.time()) + GRACE_S)
        if not self.done.is_set():
            log.warning("engine worker %s overran its budget and was stopped", self.name)
        self.kill()
        if self.proc.returncode not in (0, -9) and not self.delivered:
            self._stderr.seek(0)
            err = self._stderr.read()[-2000:].decode(errors="replace")
            log.warning("engine worker %s failed (exit %s): %s", self.name, self.proc.returncode, err)
        self._stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
