"""Commands: what a caller asks the orders service to do (imperative names)."""

from __future__ import annotations

from dataclasses import dataclass

from services.orders.domain.model import Line


@dataclass(frozen=True)
class RegisterCommunity:
    community_id: str
    name: str
    district: str
    lat: float
    lon: float
    risk_level: str
    receiving_windows: tuple[tuple[str, str], ...]
    gate_service_min: int


@dataclass(frozen=True)
class RegisterHousehold:
    household_id: str
    community_id: str
    members: int
    flags: frozenset[str]


@dataclass(frozen=True)
class PlaceOrder:
    # ``caller`` scopes the idempotency key: two callers may use the same key.
    caller: str
    household_id: str
    lines: tuple[Line, ...]
    contactless: bool
    note: str | None
    idempotency_key: str | None
    request_fingerprint: str


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str
