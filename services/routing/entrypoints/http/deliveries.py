from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.routing.entrypoints.http.deps import Dispatcher, UowDep
from services.routing.entrypoints.http.schemas import DeliveryRequest
from services.routing.service_layer import deliveries
from shared.http import BODY_ERRORS, error_responses

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"], responses=error_responses(401, 403, 422))


@router.post("", responses=error_responses(*BODY_ERRORS, 404, 409))
def record_delivery(body: DeliveryRequest, uow: UowDep, principal: Dispatcher) -> dict[str, Any]:
    """A stop handed over at the gate (received-by name) or failed (reason)."""
    command = deliveries.RecordDelivery(
        plan_id=body.plan_id, stop_id=body.stop_id, outcome=body.outcome,
        received_by=body.received_by, reason=body.reason,
    )
    with uow:
        return deliveries.record_delivery(uow, command, principal)
