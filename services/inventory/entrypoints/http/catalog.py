"""Depots and SKUs: the catalog inventory owns (admin writes, any signed-in caller reads)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from services.inventory.adapters.orm import DepotPublic, DepotUpsert, SkuPublic, SkuUpsert
from services.inventory.domain.commands import DefineDepot, DefineSku
from services.inventory.entrypoints.http.deps import (
    Admin,
    ContextDep,
    CurrentUser,
    DepotId,
    SkuId,
    UowDep,
)
from services.inventory.service_layer import handlers
from shared.events.payloads import Category
from shared.http import BODY_ERRORS, error_responses

router = APIRouter(prefix="/v1", tags=["catalog"], responses=error_responses(401, 403))


@router.put(
    "/depots/{depot_id}",
    response_model=DepotPublic,
    responses={201: {"model": DepotPublic, "description": "created"},
               200: {"description": "updated or unchanged"}, **error_responses(*BODY_ERRORS)},
)
def put_depot(
    depot_id: DepotId, body: DepotUpsert, _admin: Admin, uow: UowDep, ctx: ContextDep,
    response: Response,
) -> DepotPublic:
    """Create or replace a depot; publishes ``lifeline.depot.defined`` when it changed."""
    depot, created = handlers.define_depot(
        uow,
        DefineDepot(
            depot_id=depot_id, name=body.name, tier=body.tier, lat=body.lat, lon=body.lon,
            district=body.district, cold_storage=body.cold_storage,
            community_ids=tuple(body.community_ids),
        ),
        ctx,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return DepotPublic.model_validate(depot, from_attributes=True)


@router.get("/depots", response_model=list[DepotPublic])
def get_depots(_user: CurrentUser, uow: UowDep) -> list[DepotPublic]:
    return [DepotPublic.model_validate(row, from_attributes=True) for row in handlers.list_depots(uow)]


@router.put(
    "/skus/{sku}",
    response_model=SkuPublic,
    responses={201: {"model": SkuPublic, "description": "created"},
               200: {"description": "updated or unchanged"}, **error_responses(*BODY_ERRORS)},
)
def put_sku(
    sku: SkuId, body: SkuUpsert, _admin: Admin, uow: UowDep, ctx: ContextDep, response: Response
) -> SkuPublic:
    """Create or replace a SKU; publishes ``lifeline.sku.defined`` when it changed."""
    result, created = handlers.define_sku(
        uow,
        DefineSku(
            sku=sku, name=body.name, category=body.category, unit_weight_kg=body.unit_weight_kg,
            unit_volume_l=body.unit_volume_l, cold_chain=body.cold_chain, urgent=body.urgent,
            ration=body.ration.model_dump() if body.ration else None,
        ),
        ctx,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return SkuPublic.model_validate(result, from_attributes=True)


@router.get("/skus", response_model=list[SkuPublic], responses=error_responses(422))
def get_skus(
    _user: CurrentUser, uow: UowDep, category: Category | None = Query(default=None)
) -> list[SkuPublic]:
    return [SkuPublic.model_validate(row, from_attributes=True) for row in handlers.list_skus(uow, category)]
