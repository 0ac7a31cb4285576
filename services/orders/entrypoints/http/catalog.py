"""What can be ordered: the catalog read model, with ration rules, for order forms."""

from __future__ import annotations

from fastapi import APIRouter

from services.orders.entrypoints.http.deps import AnyUser, UowDep
from services.orders.entrypoints.http.schemas import CatalogItemPublic, RationPublic
from services.orders.service_layer import handlers
from shared.http import error_responses

router = APIRouter(prefix="/v1", tags=["catalog"], responses=error_responses(401, 403))


@router.get("/catalog")
def list_catalog(_user: AnyUser, uow: UowDep) -> list[CatalogItemPublic]:
    return [
        CatalogItemPublic(
            sku=item.sku, name=item.name, category=item.category,
            unit_weight_kg=item.unit_weight_kg, unit_volume_l=item.unit_volume_l,
            cold_chain=item.cold_chain, urgent=item.urgent,
            ration=RationPublic(quantity=item.ration_quantity, per_days=item.ration_per_days)
            if item.ration_quantity is not None and item.ration_per_days is not None
            else None,
        )
        for item in handlers.list_catalog(uow)
    ]
