"""The catalog: depots and SKUs (defined over HTTP, published as events) and the
communities this service learns from the orders service's events."""

from __future__ import annotations

from typing import Any

from services.inventory.adapters.orm import Depot, Sku
from services.inventory.domain.commands import DefineDepot, DefineSku
from services.inventory.domain.model import Tier
from services.inventory.service_layer.context import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.errors import DomainError
from shared.events.payloads import DepotDefined, Ration, SkuDefined


def define_depot(uow: InventoryUnitOfWork, cmd: DefineDepot, ctx: Context) -> tuple[Depot, bool]:
    if cmd.community_ids and cmd.tier != Tier.COMMUNITY.value:
        raise DomainError(
            "community_ids only applies to community-tier depots (transit stations)",
            code="invalid_field", field="community_ids",
        )
    with uow:
        row = uow.catalog.depot(cmd.depot_id)
        created = row is None
        values: dict[str, Any] = {
            "name": cmd.name, "tier": cmd.tier, "lat": cmd.lat, "lon": cmd.lon,
            "district": cmd.district, "cold_storage": cmd.cold_storage,
            "community_ids": sorted(set(cmd.community_ids)),
        }
        if row is None:
            row = Depot(id=cmd.depot_id, updated_at=ctx.now(), **values)
            uow.catalog.add(row)
        elif all(getattr(row, k) == v for k, v in values.items()):
            return row, False  # an identical PUT changes nothing, publishes nothing
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = ctx.now()
        uow.catalog.flush()
        uow.publish(DepotDefined(depot_id=cmd.depot_id, **values))
        uow.commit()
        ctx.catalog.depot_changed()
        return row, created


def define_sku(uow: InventoryUnitOfWork, cmd: DefineSku, ctx: Context) -> tuple[Sku, bool]:
    with uow:
        row = uow.catalog.sku(cmd.sku)
        created = row is None
        values: dict[str, Any] = {
            "name": cmd.name, "category": cmd.category, "unit_weight_kg": cmd.unit_weight_kg,
            "unit_volume_l": cmd.unit_volume_l, "cold_chain": cmd.cold_chain,
            "urgent": cmd.urgent, "ration": cmd.ration,
        }
        if row is None:
            row = Sku(id=cmd.sku, updated_at=ctx.now(), **values)
            uow.catalog.add(row)
        elif all(getattr(row, k) == v for k, v in values.items()):
            return row, False
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = ctx.now()
        uow.catalog.flush()
        ration = Ration(**cmd.ration) if cmd.ration else None
        uow.publish(SkuDefined(sku=cmd.sku, **{**values, "ration": ration}))
        uow.commit()
        ctx.catalog.sku_changed(cmd.sku)
        return row, created


def list_depots(uow: InventoryUnitOfWork) -> list[Depot]:
    with uow:
        return list(uow.catalog.list_depots())


def list_skus(uow: InventoryUnitOfWork, category: str | None = None) -> list[Sku]:
    with uow:
        return list(uow.catalog.list_skus(category))


def record_community(
    uow: InventoryUnitOfWork, community_id: str, name: str, district: str, lat: float, lon: float,
    ctx: Context | None = None,
) -> None:
    uow.communities.upsert(community_id, name, district, lat, lon)
    if ctx is not None:
        ctx.catalog.community_changed(community_id)
