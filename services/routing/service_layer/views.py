"""Read-only queries the API serves (cosmicpython's views): no rule, no write."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import Plan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.auth import Principal


def plans_of(
    uow: RoutingUnitOfWork, principal: Principal, depot_id: str | None, service_date: date | None, limit: int,
) -> list[Plan]:
    """Plans newest first, of ``depot_id`` (or every depot the principal may see)."""
    query = select(Plan).order_by(col(Plan.created_at).desc(), col(Plan.id).desc())
    if service_date is not None:
        query = query.where(col(Plan.service_date) == service_date)
    visible = None if principal.role == "admin" else principal.depot_ids
    wanted = {depot_id} if depot_id is not None else visible
    found: list[Plan] = []
    # depot_ids is a JSON list: filtered here (a depot has tens of plans a day, not millions)
    for plan in uow.session.execute(query).scalars():
        depots = set(plan.depot_ids)
        if (wanted is None or depots & wanted) and (visible is None or depots & visible):
            found.append(plan)
            if len(found) >= limit:
                break
    return found
