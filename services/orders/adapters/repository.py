"""Small repositories over one session (the order-intake hot path is ``intake.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.orders.adapters.orm import (
    CatalogSku,
    Community,
    Household,
    Order,
    OrderLine,
    TimelineEntry,
)
from services.orders.adapters.timeline import TimelineStore
from services.orders.domain.model import Line
from shared.db import core_table

# Table columns are typed for SQLAlchemy; the model attributes are typed for Python.
_communities = core_table(Community)
_orders = core_table(Order)
_lines = core_table(OrderLine)
_timeline = core_table(TimelineEntry)
_households = core_table(Household)
_catalog = core_table(CatalogSku)



class CommunityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, community_id: str, *, for_update: bool = False) -> Community | None:
        statement = select(Community).where(_communities.c.id == community_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.execute(statement).scalar_one_or_none()

    def list(self, *, district: str | None = None, risk_level: str | None = None) -> Sequence[Community]:
        statement = select(Community).order_by(_communities.c.id)
        if district is not None:
            statement = statement.where(_communities.c.district == district)
        if risk_level is not None:
            statement = statement.where(_communities.c.risk_level == risk_level)
        return self.session.execute(statement).scalars().all()

    def add(self, community: Community) -> None:
        self.session.add(community)


class HouseholdRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, household_id: str, *, for_update: bool = False) -> Household | None:
        statement = select(Household).where(_households.c.id == household_id)
        if for_update:
            # Serialises everything one household does (rations, rate limit) on PostgreSQL;
            # SQLite transactions are already serial (BEGIN IMMEDIATE).
            statement = statement.with_for_update()
        return self.session.execute(statement).scalar_one_or_none()

    def add(self, household: Household) -> None:
        self.session.add(household)


class CatalogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, sku: str) -> CatalogSku | None:
        return self.session.get(CatalogSku, sku)

    def add(self, sku: CatalogSku) -> None:
        self.session.add(sku)

    def list(self) -> Sequence[CatalogSku]:
        return self.session.execute(select(CatalogSku).order_by(_catalog.c.sku)).scalars().all()


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        statement = select(Order).where(_orders.c.id == order_id)
        if for_update:
            # Fresh values even if this session already holds the object (consumer batches).
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return self.session.execute(statement).scalar_one_or_none()

    def by_idempotency_key(self, caller: str, key: str) -> Order | None:
        return self.session.execute(
            select(Order).where(_orders.c.caller == caller, _orders.c.idempotency_key == key)
        ).scalar_one_or_none()

    def add_timeline(self, order_id: str, at: datetime, status: str, detail: dict[str, Any]) -> None:
        TimelineStore(self.session).add(order_id, at, status, detail)

    def lines(self, order_ids: Sequence[str]) -> dict[str, list[Line]]:
        found: dict[str, list[Line]] = {order_id: [] for order_id in order_ids}
        if not order_ids:
            return found
        rows = self.session.execute(
            select(_lines.c.order_id, _lines.c.sku, _lines.c.quantity)
            .where(_lines.c.order_id.in_(list(order_ids)))
            .order_by(_lines.c.order_id, _lines.c.position)
        ).all()
        for row in rows:
            found[row.order_id].append(Line(row.sku, row.quantity))
        return found

    def timeline(self, order_id: str) -> Sequence[TimelineEntry]:
        return self.session.execute(
            select(TimelineEntry)
            .where(_timeline.c.order_id == order_id)
            .order_by(_timeline.c.id)
        ).scalars().all()

    def page(
        self,
        *,
        household_id: str | None = None,
        community_ids: Sequence[str] | None = None,
        status: str | None = None,
        before_id: str | None = None,
        limit: int,
    ) -> Sequence[Order]:
        statement = select(Order).order_by(_orders.c.id.desc()).limit(limit)
        if household_id is not None:
            statement = statement.where(_orders.c.household_id == household_id)
        if community_ids is not None:
            statement = statement.where(_orders.c.community_id.in_(list(community_ids)))
        if status is not None:
            statement = statement.where(_orders.c.status == status)
        if before_id is not None:
            statement = statement.where(_orders.c.id < before_id)
        return self.session.execute(statement).scalars().all()
