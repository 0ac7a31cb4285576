"""Stock figures and the rules on how outside events change them (SPEC section 4)."""

from __future__ import annotations

from dataclasses import dataclass


class StockRuleViolation(ValueError):
    """A stock event that can never apply as sent (no retry makes it valid)."""


@dataclass(frozen=True)
class StockFigures:
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def on_hand_delta(kind: str, quantity: int, current_on_hand: int) -> int:
    """How much on hand changes for a received / adjusted / counted event."""
    if kind == "received":
        if quantity <= 0:
            raise StockRuleViolation(f"received quantity must be > 0, got {quantity}")
        return quantity
    if kind == "adjusted":
        if current_on_hand + quantity < 0:
            raise StockRuleViolation(
                f"adjustment of {quantity} would take on hand below zero "
                f"(on hand {current_on_hand}); send a count instead"
            )
        return quantity
    if kind == "counted":
        if quantity < 0:
            raise StockRuleViolation(f"counted quantity must be >= 0, got {quantity}")
        return quantity - current_on_hand
    raise StockRuleViolation(f"unknown stock movement {kind!r}")


def days_of_supply(units: int, daily_demand: float) -> float | None:
    """None when there is no demand history: supply does not run out at zero demand."""
    if daily_demand <= 0:
        return None
    return round(units / daily_demand, 2)


def is_low(
    available: int,
    daily_demand: float,
    *,
    threshold_days: float,
    threshold_units: int,
) -> tuple[bool, float | None]:
    """Low when under ``threshold_days`` of supply, or, without demand history yet,
    under ``threshold_units`` available."""
    dos = days_of_supply(available, daily_demand)
    if dos is None:
        return available < threshold_units, None
    return dos < threshold_days, dos


class UnknownStockTarget(StockRuleViolation):
    """A stock event for a depot or SKU the catalog does not hold."""
