"""Registry use cases: communities, households and the catalog read model.

Every write is one transaction with its outbox event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from services.orders.adapters.orm import CatalogSku, Community, Household
from services.orders.domain import rules
from services.orders.domain.commands import (
    RegisterCommunity,
    RegisterHousehold,
)
from services.orders.service_layer.errors import rule_error
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import payloads

log = logging.getLogger(__name__)

T = TypeVar("T")


def _retry_on_conflict(attempt: Callable[[], T]) -> T:
    """Run once more when a concurrent writer inserted the same key first (PostgreSQL)."""
    try:
        return attempt()
    except IntegrityError:
        return attempt()



_COMMUNITY_FIELDS = ("name", "district", "lat", "lon", "risk_level", "receiving_windows",
                     "gate_service_min")


def register_community(cmd: RegisterCommunity, uow: OrdersUnitOfWork) -> tuple[Community, bool]:
    """Create or update a community; publishes Registered once, then Updated on change."""
    try:
        windows = rules.validate_receiving_windows(cmd.receiving_windows)
    except rules.RuleViolation as violation:
        raise rule_error(violation) from violation
    wanted: dict[str, Any] = {
        "name": cmd.name, "district": cmd.district, "lat": cmd.lat, "lon": cmd.lon,
        "risk_level": cmd.risk_level, "receiving_windows": [list(w) for w in windows],
        "gate_service_min": cmd.gate_service_min,
    }

    def attempt() -> tuple[Community, bool]:
        with uow:
            now = clock.now()
            community = uow.communities.get(cmd.community_id, for_update=True)
            created = community is None
            if community is None:
                community = Community(id=cmd.community_id, created_at=now, updated_at=now, **wanted)
                uow.communities.add(community)
                event: type[payloads.CommunityChanged] = payloads.CommunityRegistered
            else:
                if all(getattr(community, name) == wanted[name] for name in _COMMUNITY_FIELDS):
                    return community, False  # nothing changed: no event
                for name in _COMMUNITY_FIELDS:
                    setattr(community, name, wanted[name])
                community.updated_at = now
                event = payloads.CommunityUpdated
            uow.session.flush()
            uow.publish(event(
                community_id=community.id, name=community.name, district=community.district,
                lat=community.lat, lon=community.lon, risk_level=community.risk_level,  # type: ignore[arg-type]
                receiving_windows=[tuple(w) for w in community.receiving_windows],  # type: ignore[misc]
                gate_service_min=community.gate_service_min,
            ))
            uow.commit()
            return community, created

    return _retry_on_conflict(attempt)


def get_community(community_id: str, uow: OrdersUnitOfWork) -> Community:
    with uow:
        community = uow.communities.get(community_id)
        if community is None:
            raise NotFound(f"community {community_id} not found", community_id=community_id)
        return community


def list_communities(
    uow: OrdersUnitOfWork, *, district: str | None, risk_level: str | None
) -> Sequence[Community]:
    with uow:
        return uow.communities.list(district=district, risk_level=risk_level)


def register_household(
    cmd: RegisterHousehold, principal: Principal, uow: OrdersUnitOfWork
) -> tuple[Household, bool]:
    # Scope first, existence second: a worker learns nothing about other communities.
    if not principal.can_act_for_community(cmd.community_id):
        raise Forbidden(
            f"you may not register households in community {cmd.community_id}",
            field="community_id",
        )

    def attempt() -> tuple[Household, bool]:
        with uow:
            if uow.communities.get(cmd.community_id) is None:
                raise DomainError(
                    f"community {cmd.community_id} is not registered",
                    code="unknown_community", field="community_id",
                )
            now = clock.now()
            household = uow.households.get(cmd.household_id, for_update=True)
            created = household is None
            flags = sorted(cmd.flags)
            if household is None:
                household = Household(
                    id=cmd.household_id, community_id=cmd.community_id, members=cmd.members,
                    flags=flags, created_at=now, updated_at=now,
                )
                uow.households.add(household)
            else:
                if not principal.can_act_for_community(household.community_id):
                    raise Forbidden(
                        f"household {cmd.household_id} belongs to a community outside your scope",
                        field="household_id",
                    )
                household.community_id = cmd.community_id
                household.members = cmd.members
                household.flags = flags
                household.updated_at = now
            uow.commit()
            return household, created

    return _retry_on_conflict(attempt)


def get_household(household_id: str, principal: Principal, uow: OrdersUnitOfWork) -> Household:
    with uow:
        household = uow.households.get(household_id)
        visible = household is not None and (
            principal.role == "admin"
            or principal.household_id == household.id
            or (principal.role == "community_worker"
                and household.community_id in principal.community_ids)
        )
        if household is None or not visible:
            raise NotFound(f"household {household_id} not found", household_id=household_id)
        return household



def define_sku(payload: payloads.SkuDefined, uow: OrdersUnitOfWork) -> None:
    """Upsert the catalog read model (the topic is compacted: the last definition wins)."""
    sku = uow.catalog.get(payload.sku)
    values: dict[str, Any] = {
        "name": payload.name, "category": payload.category,
        "unit_weight_kg": payload.unit_weight_kg, "unit_volume_l": payload.unit_volume_l,
        "cold_chain": payload.cold_chain, "urgent": payload.urgent,
        "ration_quantity": payload.ration.quantity if payload.ration else None,
        "ration_per_days": payload.ration.per_days if payload.ration else None,
        "updated_at": clock.now(),
    }
    if sku is None:
        uow.catalog.add(CatalogSku(sku=payload.sku, **values))
    else:
        for name, value in values.items():
            setattr(sku, name, value)
    uow.session.flush()


def list_catalog(uow: OrdersUnitOfWork) -> Sequence[CatalogSku]:
    with uow:
        return uow.catalog.list()

