from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import Community, DemandOrder, Sku
from services.routing.domain.demand import RESERVED, SkuSize, load_of
from services.routing.entrypoints.http.deps import Dispatcher, UowDep
from services.routing.entrypoints.http.schemas import DemandCommunity
from services.routing.service_layer.access import check_depot_access
from shared.http import NO_NUL, error_responses

router = APIRouter(prefix="/v1/demand", tags=["demand"], responses=error_responses(401, 403, 422))


@router.get("", response_model=list[DemandCommunity])
def get_demand(
    uow: UowDep, principal: Dispatcher, depot_id: str = Query(min_length=1, max_length=64, pattern=NO_NUL)
) -> list[dict[str, Any]]:
    """Reserved, unscheduled orders of a depot, grouped by community."""
    check_depot_access(principal, [depot_id])
    with uow:
        orders = uow.session.execute(
            select(DemandOrder).where(col(DemandOrder.depot_id) == depot_id, col(DemandOrder.status) == RESERVED)
        ).scalars().all()
        sizes = {
            s.id: SkuSize(s.unit_weight_kg, s.unit_volume_l, s.cold_chain)
            for s in uow.session.execute(select(Sku)).scalars()
        }
        communities = {
            c.id: c for c in uow.session.execute(
                select(Community).where(col(Community.id).in_({o.community_id for o in orders}))
            ).scalars()
        }
    grouped: dict[str, list[DemandOrder]] = defaultdict(list)
    for order in orders:
        grouped[order.community_id].append(order)
    result = []
    for community_id, members in sorted(grouped.items()):
        loads = [load_of(o.lines, sizes) for o in members]
        community = communities.get(community_id)
        placed = [o.placed_at for o in members if o.placed_at is not None]
        result.append({
            "community_id": community_id,
            "community_name": community.name if community else None,
            "risk_level": community.risk_level if community else None,
            "orders": len(members),
            "weight_kg": round(sum(load.kg for load in loads), 2),
            "volume_l": round(sum(load.litres for load in loads), 2),
            "cold_kg": round(sum(load.cold_kg for load in loads), 2),
            "priority_counts": dict(Counter(o.priority for o in members)),
            "oldest_placed_at": min(placed).isoformat() if placed else None,
            "order_ids": sorted(o.order_id for o in members),
        })
    return result
