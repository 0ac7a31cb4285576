"""Orders: place, read, list, cancel. Thin: HTTP -> command -> handler -> response."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Response, status

from services.orders.domain.commands import CancelOrder, PlaceOrder
from services.orders.domain.model import Line
from services.orders.entrypoints.http.deps import (
    IntakeDep,
    OrderCanceller,
    Orderer,
    OrderReader,
    UowDep,
)
from services.orders.entrypoints.http.schemas import (
    CancelRequest,
    DeliverySchedule,
    OrderCreate,
    OrderDetailPublic,
    OrderItem,
    OrderPage,
    OrderPublic,
    OrderStatusName,
    TimelineEntryPublic,
)
from services.orders.service_layer import handlers
from services.orders.service_layer.handlers import OrderDetails
from shared.auth import Principal
from shared.clock import as_utc
from shared.errors import DomainError
from shared.http import ErrorResponse, error_responses

router = APIRouter(prefix="/v1/orders", tags=["orders"], responses=error_responses(401, 403, 422))

ORDER_ID_PATTERN = r"^O-[0-9A-HJKMNP-TV-Z]{26}$"
OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


def order_public(details: OrderDetails) -> OrderPublic:
    order = details.order
    schedule = None
    if order.plan_id is not None:
        schedule = DeliverySchedule(
            plan_id=order.plan_id, vehicle_id=order.vehicle_id, stop_id=order.stop_id,
            eta=as_utc(order.eta), window_start=as_utc(order.window_start),
            window_end=as_utc(order.window_end),
        )
    return OrderPublic(
        id=order.id, status=order.status, priority=order.priority,  # type: ignore[arg-type]
        household_id=order.household_id, community_id=order.community_id,
        items=[OrderItem(sku=line.sku, quantity=line.quantity) for line in details.lines],
        contactless=order.contactless, note=order.note, depot_id=order.depot_id,
        schedule=schedule, status_reason=order.status_reason,
        delivered_at=as_utc(order.delivered_at), received_by=order.received_by,
        created_at=as_utc(order.created_at), updated_at=as_utc(order.updated_at),  # type: ignore[arg-type]
    )


def order_detail(details: OrderDetails) -> OrderDetailPublic:
    timeline = [
        TimelineEntryPublic(at=as_utc(entry.at), status=entry.status, detail=entry.detail)  # type: ignore[arg-type]
        for entry in details.timeline or ()
    ]
    return OrderDetailPublic(**order_public(details).model_dump(), timeline=timeline)


def _household_for(principal: Principal, body: OrderCreate) -> str:
    if principal.role == "resident":
        if body.household_id is not None and body.household_id != principal.subject:
            raise DomainError(
                "a resident orders for his own household only; leave household_id out",
                code="household_mismatch", field="household_id",
            )
        return principal.subject
    if body.household_id is None:
        raise DomainError(
            "household_id is required when ordering on behalf of a household",
            code="missing_field", field="household_id",
        )
    return body.household_id


def _fingerprint(household_id: str, body: OrderCreate) -> str:
    canonical = json.dumps(
        {"household_id": household_id, "items": [[i.sku, i.quantity] for i in body.items],
         "contactless": body.contactless, "note": body.note},
        separators=(",", ":"), sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderPublic,
    responses={
        200: {"model": OrderPublic, "description": "replay of an Idempotency-Key"},
        **error_responses(400, 409, 413, 429),
    },
)
async def place_order(
    body: OrderCreate,
    principal: Orderer,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Place an order. Lines naming the same SKU are merged (quantities summed) before
    the per-line maximum and the rations are checked."""
    household_id = _household_for(principal, body)
    command = PlaceOrder(
        caller=f"{principal.role}:{principal.subject}",
        household_id=household_id,
        lines=tuple(Line(item.sku, item.quantity) for item in body.items),
        contactless=body.contactless,
        note=body.note,
        idempotency_key=idempotency_key,
        request_fingerprint=_fingerprint(household_id, body),
    )
    # Orders that arrive together share one transaction (group commit): one thread hop,
    # BEGIN and COMMIT per batch instead of per order.
    details, created = await intake.submit((command, principal))
    # Serialised once here; FastAPI passes a Response through without validating the
    # model a second time (this is the hot path).
    return Response(
        order_public(details).model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get("")
def list_orders(
    principal: OrderReader,
    uow: UowDep,
    status_filter: Annotated[OrderStatusName | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(
        pattern=ORDER_ID_PATTERN, description="`next_cursor` of the previous page",
    )] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    """Newest first. Residents see their household's orders, workers their communities',
    dispatchers and admins all; pass `next_cursor` back as `cursor` for the next page (it
    is the id of the page's last order: the next page has the older ones)."""
    items, last = handlers.list_orders(
        principal, uow, status_filter=status_filter, before_id=cursor, limit=limit
    )
    return OrderPage(items=[order_public(item) for item in items], next_cursor=last)


@router.get("/{order_id}", responses=error_responses(404))
def get_order(order_id: OrderId, principal: OrderReader, uow: UowDep) -> OrderDetailPublic:
    """Status, priority, depot, the delivery window and ETA once scheduled, the timeline.
    Another household's order is a 404."""
    return order_detail(handlers.get_order(order_id, principal, uow))


@router.post(
    "/{order_id}/cancel",
    responses={
        **error_responses(400, 404, 413),
        409: {"model": ErrorResponse, "description": "already on a dispatched route, delivered or rejected"},
    },
)
def cancel_order(
    order_id: OrderId,
    principal: OrderCanceller,
    uow: UowDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> OrderDetailPublic:
    """Cancel until the order's route is dispatched (placed, reserved, backordered)."""
    reason = body.reason if body is not None else CancelRequest().reason
    return order_detail(handlers.cancel_order(CancelOrder(order_id, reason), principal, uow))
