"""What this process is doing right now, for a conductor that moves simulated time.

A reproducible simulation (``services/simulation/lockstep.py``) advances the service clock
only when the whole system is at rest, so that every decision is a function of the state
and never of how fast a process happened to be. Each process tells it three things:

* whether some part is *holding* work in progress (an HTTP call under way, an event being
  sent, a batch being applied): ``with holding(): ...``, or ``release = hold()`` for work
  that outlives a block;
* whether its long-running parts are idle by their own account (``watch(check)``: the
  outbox relay is idle when nothing it fetched is unsent and no commit woke it since);
* how far it has *consumed* each topic it reads (``consumes(...)``, ``consumed(...)``),
  which the conductor compares with the topics' end offsets.

Outside a lockstep simulation nobody reads these figures; keeping them costs a counter
and a dict entry per batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

_held = 0
_checks: list[Callable[[], bool]] = []
_topics: set[str] = set()
_consumed: dict[tuple[str, int], int] = {}
#: Grows with every bit of work finished: two readings with the same value and nothing
#: held in between saw no work happen (a conductor's "still at rest?").
_epoch = 0


def hold() -> Callable[[], None]:
    """Work in progress that outlives a block (a background task, say): held until the
    returned ``release`` is called; a second call does nothing."""
    global _held
    _held += 1
    released = False

    def release() -> None:
        global _held, _epoch
        nonlocal released
        if not released:
            released = True
            _held -= 1
            _epoch += 1

    return release


@contextlib.contextmanager
def holding() -> Iterator[None]:
    """Work in progress that no offset or timer shows (a request under way, say)."""
    release = hold()
    try:
        yield
    finally:
        release()


def watch(is_idle: Callable[[], bool]) -> None:
    """A long-running part that says by itself whether it is idle."""
    _checks.append(is_idle)


def unwatch(is_idle: Callable[[], bool]) -> None:
    with contextlib.suppress(ValueError):
        _checks.remove(is_idle)


def consumes(topics: Iterable[str]) -> None:
    """This process reads these topics: all their records must be consumed to be at rest."""
    _topics.update(topics)


def consumed(topic: str, partition: int, next_offset: int) -> None:
    """Every record of the partition before ``next_offset`` has had its effect here."""
    global _epoch
    key = (topic, partition)
    if _consumed.get(key, -1) < next_offset:
        _consumed[key] = next_offset
        _epoch += 1


def at_rest() -> bool:
    """Nothing held and every watched part idle (consumption is the conductor's to judge)."""
    return _held == 0 and all(check() for check in _checks)


def report() -> dict[str, object]:
    return {
        "held": _held,
        "epoch": _epoch,
        "topics": sorted(_topics),
        "consumed": {f"{topic}/{partition}": offset for (topic, partition), offset in _consumed.items()},
    }


def reset() -> None:
    """Forget every part and figure (a test that stands for a fresh process)."""
    global _held, _epoch
    _held, _epoch = 0, 0
    _checks.clear()
    _topics.clear()
    _consumed.clear()
