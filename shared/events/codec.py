"""Between typed payloads and CloudEvents."""

from __future__ import annotations

from pydantic import ValidationError

from shared.events.envelope import CloudEvent, describe_validation_error, new_event_id
from shared.events.payloads import PAYLOAD_TYPES, EventPayload


class SchemaViolation(ValueError):
    """A well-formed CloudEvent whose data breaks the payload schema of its type."""


class UnknownEventType(ValueError):
    """A CloudEvent type this contract does not define."""


def wrap(
    payload: EventPayload,
    *,
    source: str,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id or new_event_id(),
        source=source,
        type=payload.TYPE,
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
        correlationid=correlation_id,
        dataversion=payload.VERSION,
    )


def unwrap(event: CloudEvent) -> EventPayload:
    payload_type = PAYLOAD_TYPES.get(event.type)
    if payload_type is None:
        raise UnknownEventType(f"unknown event type {event.type!r}")
    try:
        return payload_type.model_validate(event.data)
    except ValidationError as exc:
        raise SchemaViolation(f"{event.type}: {describe_validation_error(exc)}") from exc
