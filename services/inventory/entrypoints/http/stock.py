"""Stock figures, the stock-events intake for warehouse systems, and the supply outlook.

Scope: admin sees every depot; a dispatcher or an inventory system sees and writes only
the depots in its token (``depot_ids``). Asking for another depot's stock is a 403; the
per-SKU view silently lists only the caller's depots.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy.exc import DBAPIError

from services.inventory.adapters.orm import AllocationPublic, StockPublic
from services.inventory.adapters.repository import StockRow
from services.inventory.entrypoints.http.deps import (
    ContextDep,
    DepotId,
    SkuId,
    StockReader,
    StockWriter,
    UowDep,
)
from services.inventory.entrypoints.http.schemas import (
    Outlook,
    StockEventBatch,
    StockEventList,
    StockEventOutcome,
    StockEventsResponse,
    StockList,
)
from services.inventory.service_layer import handlers
from shared.auth import Principal
from shared.errors import DomainError, Forbidden, NotFound, Unavailable
from shared.http import BODY_ERRORS, error_responses
from shared.text import NO_NUL

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["stock"], responses=error_responses(401, 403, 422))

# Inbox rows of events applied over HTTP are labelled with their entry point; the id
# space is shared with the topic, which is what makes topic + HTTP dedupe together.
HTTP_INBOX_TOPIC = "http:/v1/stock-events"


def _scope(principal: Principal) -> frozenset[str] | None:
    """None: every depot (admin); otherwise the depots in the caller's token."""
    return None if principal.role == "admin" else principal.depot_ids


def _public(row: StockRow) -> StockPublic:
    return StockPublic(
        depot_id=row.depot_id, sku=row.sku, on_hand=row.on_hand, reserved=row.reserved,
        available=row.available, low=row.low_alerted,
    )


@router.post("/stock-events", response_model=StockEventsResponse, responses=error_responses(*BODY_ERRORS, 503))
def post_stock_events(
    principal: StockWriter,
    uow: UowDep,
    ctx: ContextDep,
    body: Annotated[StockEventList | StockEventBatch, Body(
        description="A JSON array of stock CloudEvents, or {\"events\": [...]}",
    )],
) -> StockEventsResponse:
    """Apply a batch of received / adjusted / counted events (SPEC section 4). Each event
    is answered on its own: applied, duplicate (same id seen here or on the topic), or
    rejected with the reason; the rest of the batch still applies."""
    events = body.events if isinstance(body, StockEventBatch) else body
    limit = ctx.config.max_stock_events_per_request
    if not events:
        raise DomainError("send at least one event", code="invalid_field", field="events")
    if len(events) > limit:
        raise DomainError(
            f"at most {limit} events per request, got {len(events)}",
            code="too_many_events", field="events", limit=limit,
        )
    scope = _scope(principal)

    def may_write(depot_id: str) -> bool:
        return scope is None or depot_id in scope

    results: list[handlers.StockEventResult] = []
    for attempt in range(1, 4):
        try:
            # Entering the unit of work again opens a fresh session and transaction.
            results = handlers.apply_stock_batch(
                uow, events, may_write, ctx, inbox_topic=HTTP_INBOX_TOPIC
            )
            break
        except DBAPIError as exc:
            # Deadlock victim, serialisation failure or a locked SQLite file: nothing of
            # the batch was written (one transaction); try the whole batch again.
            log.warning("stock-events batch failed (attempt %d): %s", attempt, exc)
            if attempt == 3:
                raise Unavailable(
                    "the database is busy; nothing was applied, send the batch again",
                    retry_after_s=1,
                ) from exc
            time.sleep(0.1 * attempt)
    outcomes = [StockEventOutcome(**r.__dict__) for r in results]
    return StockEventsResponse(
        applied=sum(1 for r in outcomes if r.status == "applied"),
        duplicates=sum(1 for r in outcomes if r.status == "duplicate"),
        rejected=sum(1 for r in outcomes if r.status == "rejected"),
        results=outcomes,
    )


@router.get("/depots/{depot_id}/stock", response_model=StockList, responses=error_responses(404))
def get_depot_stock(depot_id: DepotId, principal: StockReader, uow: UowDep) -> StockList:
    scope = _scope(principal)
    if scope is not None and depot_id not in scope:
        raise Forbidden(f"depot {depot_id!r} is not in your scope", field="depot_id")
    rows = handlers.stock_rows(uow, depot_id=depot_id)
    return StockList(items=[_public(r) for r in rows])


@router.get("/stock/{sku}", response_model=StockList, responses=error_responses(404))
def get_sku_stock(sku: SkuId, principal: StockReader, uow: UowDep) -> StockList:
    rows = handlers.stock_rows(uow, sku=sku, depots=_scope(principal))
    return StockList(items=[_public(r) for r in rows])


@router.get("/outlook", response_model=Outlook, responses=error_responses(404))
def get_outlook(
    _principal: StockReader,
    uow: UowDep,
    ctx: ContextDep,
    district: str | None = Query(default=None, min_length=1, max_length=100, pattern=NO_NUL),
) -> Outlook:
    """Days of supply per category: on hand ÷ recent daily demand (net reservations over
    the configured window); null where there was no demand in the window."""
    return Outlook.model_validate(handlers.outlook(uow, district, ctx))




@router.get("/allocations/{order_id}", response_model=AllocationPublic, responses=error_responses(404))
def get_allocation(
    order_id: Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)],
    principal: StockReader,
    uow: UowDep,
) -> AllocationPublic:
    """What became of one order here: reserved (at which depot), backordered, rejected,
    cancelled or shipped. Dispatchers and inventory systems see only their depots' orders
    (others are a 404, so existence does not leak)."""
    allocation = handlers.get_allocation(uow, order_id)
    scope = _scope(principal)
    if scope is not None and allocation.depot_id not in scope:
        raise NotFound(f"no allocation for order {order_id!r}", field="order_id")
    return AllocationPublic(
        order_id=allocation.order_id, status=allocation.status, depot_id=allocation.depot_id,
        community_id=allocation.community_id, priority=allocation.priority.value,
        placed_at=allocation.placed_at,
        lines=[{"sku": x.sku, "quantity": x.quantity} for x in allocation.lines],
        reason=allocation.reason,
    )
