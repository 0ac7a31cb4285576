"""In-process caches the reservation path reads instead of the database.

Catalog facts (depots, a SKU's cold chain, a community's location) change rarely, by
their own commands and events: this process drops an entry when it applies such a
change, and every entry lives at most ``ttl_s`` seconds, which bounds how long another
replica's change (a PUT on another instance, a community event on a partition another
group member consumes) takes to be seen here. Only positive facts are final: an unknown
SKU or community is looked up again on the next order.

Recent demand (units reserved minus released per depot and SKU over the demand window,
for the low-stock figure) is a SUM over the ledger, which only grows; it is read once per
``ttl_s`` and kept up to date in between by the reservations and releases this process
makes. It is an approximation by design (a rolled-back transaction's units stay counted
until the next read, other replicas' until the entry expires); the low-stock alert
itself still fires once per dip and re-arms on recovery, keyed on the stock row's flag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from services.inventory.domain.model import Depot

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class TtlMap(Generic[K, V]):
    """A dict whose entries expire ``ttl_s`` seconds (monotonic) after they were stored;
    a ttl of 0 disables caching."""

    ttl_s: float
    monotonic: Callable[[], float] = time.monotonic
    _entries: dict[K, tuple[float, V]] = field(default_factory=dict)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.monotonic() - entry[0] > self.ttl_s:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl_s > 0:
            self._entries[key] = (self.monotonic(), value)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class CatalogCache:
    ttl_s: float = 5.0
    # The whole depot list, under the key None.
    depots: TtlMap[None, list[Depot]] = field(init=False)
    cold_chain: TtlMap[str, bool] = field(init=False)
    # Candidate depots, best first, per (community id, needs cold chain).
    candidates: TtlMap[tuple[str, bool], list[Depot]] = field(init=False)

    def __post_init__(self) -> None:
        self.depots = TtlMap(self.ttl_s)
        self.cold_chain = TtlMap(self.ttl_s)
        self.candidates = TtlMap(self.ttl_s)

    def depot_changed(self) -> None:
        self.depots.clear()
        self.candidates.clear()

    def sku_changed(self, sku: str) -> None:
        self.cold_chain.pop(sku)

    def community_changed(self, community_id: str) -> None:
        self.candidates.pop((community_id, False))
        self.candidates.pop((community_id, True))


@dataclass(slots=True)
class _Demand:
    units: int
    read_mono: float
    read_at: datetime


@dataclass
class DemandCache:
    """Net units reserved per (depot, SKU) since ``now - window``, as of the last read
    plus this process's own movements since."""

    ttl_s: float = 60.0
    monotonic: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], _Demand] = field(default_factory=dict)

    def get(self, key: tuple[str, str], now: datetime) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        # Expired in real time, or the domain clock moved (tests move it by days).
        if (
            self.monotonic() - entry.read_mono > self.ttl_s
            or abs(now - entry.read_at) > timedelta(seconds=self.ttl_s)
        ):
            self._entries.pop(key, None)
            return None
        return max(0, entry.units)

    def put(self, key: tuple[str, str], units: int, now: datetime) -> None:
        if self.ttl_s > 0:
            self._entries[key] = _Demand(units, self.monotonic(), now)

    def moved(self, key: tuple[str, str], reserved_delta: int) -> None:
        """A reservation (+) or release (-) this process just wrote to the ledger."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.units += reserved_delta
