"""CloudEvents 1.0 envelope in structured JSON mode, the one wire format on every topic."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import clock

CONTENT_TYPE = "application/cloudevents+json"


class EnvelopeError(ValueError):
    """The bytes are not a CloudEvent we can read."""


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = Field(default="1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=clock.now)  # simulated time in a simulation
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: dict[str, Any]
    correlationid: str | None = None
    dataversion: str | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> CloudEvent:
        if raw is None:
            raise EnvelopeError("empty message (tombstone or null value)")
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"malformed JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise EnvelopeError("a CloudEvent must be a JSON object")
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise EnvelopeError(f"not a CloudEvent: {_summarise(exc)}") from exc


def new_event_id() -> str:
    return str(uuid.uuid4())


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def describe_validation_error(exc: ValidationError) -> str:
    return _summarise(exc)
