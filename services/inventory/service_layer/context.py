"""What every inventory use case shares: the ``Context`` it runs in (tunables, clock,
allocation policy, caches) and the allocation statuses they compare against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.inventory.config import InventoryConfig
from services.inventory.domain import allocation as rules
from services.inventory.domain.model import AllocationStatus
from services.inventory.service_layer.caches import CatalogCache, DemandCache
from shared import clock as service_clock

RESERVED = AllocationStatus.RESERVED.value
BACKORDERED = AllocationStatus.BACKORDERED.value


@dataclass
class Context:
    """What every handler may need besides the unit of work: tunables, a clock, who gets
    scarce stock first (``allocation_policy``, from Settings), a positive cache of catalog
    ids (depots and SKUs are never deleted, so a hit is final), and the reservation path's
    caches of catalog facts and recent demand (``caches``)."""

    config: InventoryConfig = field(default_factory=InventoryConfig)
    clock: Callable[[], datetime] = service_clock.now
    allocation_policy: rules.AllocationPolicy = "priority"
    known_depots: set[str] = field(default_factory=set)
    known_skus: set[str] = field(default_factory=set)
    catalog: CatalogCache = field(init=False)
    demand: DemandCache = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = CatalogCache(self.config.catalog_cache_s)
        self.demand = DemandCache(self.config.demand_cache_s)

    def now(self) -> datetime:
        return self.clock()
