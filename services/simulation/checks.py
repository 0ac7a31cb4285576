"""The checks of a scenario that the schema alone cannot make.

Whether a depot, vehicle or community id exists in the city, whether an event falls
inside the simulated hours, whether a risk change of ``count`` communities finds that
many at ``from_level``. Each check runs on every part of a file that is valid by
itself, so that one run reports all there is to fix even while other fields are broken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.demo.city import build_city
from services.simulation import schema
from services.simulation.schema import TIERS, local_instant, shown

_EVENT = TypeAdapter(schema.EventModel)
_ARRIVAL = TypeAdapter(schema.StockArrivalModel)


def _valid(adapter: TypeAdapter[Any] | type[BaseModel], value: Any) -> Any:
    try:
        if isinstance(adapter, TypeAdapter):
            return adapter.validate_python(value)
        return adapter.model_validate(value)
    except ValidationError:
        return None


def _indexed(raw: dict[str, Any], key: str, adapter: TypeAdapter[Any]) -> list[tuple[int, Any]]:
    items = raw.get(key)
    if not isinstance(items, list):
        return []
    return [(index, parsed) for index, item in enumerate(items) if (parsed := _valid(adapter, item)) is not None]


@dataclass(frozen=True)
class _CityFacts:
    depots: dict[str, str]  # id: tier
    vehicles: tuple[str, ...]
    risk: dict[str, str]  # community id: risk level at the start
    skus: frozenset[str]


@cache
def _city_facts() -> _CityFacts:
    """The ids of the demo city, the only city a scenario can name for now."""
    city = build_city()
    return _CityFacts(
        depots={d["id"]: d["tier"] for d in city.depots}, vehicles=tuple(v["id"] for v in city.vehicles),
        risk={c["id"]: c["risk_level"] for c in city.communities}, skus=frozenset(s["id"] for s in city.skus),
    )


def check_consistency(raw: dict[str, Any]) -> list[str]:
    """``path: problem`` lines for the raw document ``raw``."""
    span = _valid(schema.SpanModel, raw)
    city = _city_facts() if raw.get("city") == "demo" else None
    problems: list[str] = []
    start = end = None
    if span is not None:
        tz = ZoneInfo(schema.CITY_TIMEZONES["demo"])
        start = local_instant(span.start_date, 1, span.start_time, tz)
        end = (local_instant(span.start_date, span.days + 1, time(0), tz) if span.end_time is None
               else local_instant(span.start_date, span.days, span.end_time, tz))
        if end <= start:
            problems.append(f"end_time: {span.end_time:%H:%M} is not after start_time {span.start_time:%H:%M} "
                            f"of a {span.days}-day scenario")
            start = None

    def outside(day: int, at: time) -> bool:
        assert span is not None and start is not None and end is not None
        return not start <= local_instant(span.start_date, day, at, tz) < end

    for index, rule in _indexed(raw, "stock_arrivals", _ARRIVAL):
        path = f"stock_arrivals[{index}]"
        if city is not None:
            problems += _unknown_depots(rule.depots, city, f"{path}.depots")
            problems += [f"{path}.skus: {shown(sku)} is not a SKU of the demo city" for sku in rule.skus
                         if sku not in city.skus]
        if start is not None:
            days = rule.days or range(1, span.days + 1)
            problems += [f"{path}.days: day {day} is after the last day ({span.days})" for day in days
                         if day > span.days]
            if all(outside(day, rule.at) for day in days if day <= span.days):
                problems.append(f"{path}.at: {rule.at:%H:%M} never falls inside the scenario's hours")
    events = _indexed(raw, "events", _EVENT)
    for index, event in events:
        path = f"events[{index}]"
        if start is not None:
            if event.day > span.days:
                problems.append(f"{path}.day: {event.day} is after the last day ({span.days})")
            elif outside(event.day, event.at):
                problems.append(f"{path}.at: day {event.day} at {event.at:%H:%M} is outside the scenario "
                                f"({_local_span(span)})")
        if city is not None:
            problems += _unknown_references(event, city, path)
    if city is not None:
        problems += _check_risk_counts(events, city)
    return problems


def _local_span(span: schema.SpanModel) -> str:
    end = "24:00" if span.end_time is None else f"{span.end_time:%H:%M}"
    return f"day 1 {span.start_time:%H:%M} to day {span.days} {end}"


def _unknown_depots(choices: Iterable[str], city: _CityFacts, path: str) -> list[str]:
    return [f"{path}: {shown(choice)} is not a depot of the demo city, a tier ({', '.join(TIERS)}) or all "
            f"(depots: {', '.join(city.depots)})"
            for choice in choices if choice != "all" and choice not in TIERS and choice not in city.depots]


def _unknown_references(event: Any, city: _CityFacts, path: str) -> list[str]:
    problems: list[str] = []
    if isinstance(event, schema.ShortageModel):
        problems += _unknown_depots(event.depots, city, f"{path}.depots")
    elif isinstance(event, schema.BadStockEventsModel) and event.depot not in city.depots:
        problems.append(f"{path}.depot: {shown(event.depot)} is not a depot of the demo city "
                        f"({', '.join(city.depots)})")
    elif isinstance(event, schema.BreakdownModel | schema.LateArrivalModel):
        if event.vehicle != "any" and event.vehicle not in city.vehicles:
            problems.append(f"{path}.vehicle: {shown(event.vehicle)} is not a vehicle of the demo city "
                            f"({city.vehicles[0]} to {city.vehicles[-1]}) or any")
    elif isinstance(event, schema.FailedHandoverModel):
        if event.community != "any" and event.community not in city.risk:
            problems.append(f"{path}.community: {shown(event.community)} is not a community of the demo city or any")
    elif isinstance(event, schema.RiskChangeModel):
        for n, community in enumerate(event.communities or ()):
            if community not in city.risk:
                problems.append(f"{path}.communities[{n}]: {shown(community)} is not a community of the demo city")
    return problems


def _check_risk_counts(events: list[tuple[int, Any]], city: _CityFacts) -> list[str]:
    """A change of ``count`` communities needs that many at ``from_level`` by then."""
    levels = dict(city.risk)
    problems = []
    changes = sorted(((e.day, e.at, i, e) for i, e in events if isinstance(e, schema.RiskChangeModel)),
                     key=lambda c: c[:3])
    for _, _, index, event in changes:
        if event.communities is not None:
            levels.update(dict.fromkeys((c for c in event.communities if c in levels), event.risk_level))
            continue
        count = event.count or 0  # the model requires count when communities is absent
        at_level = sorted(c for c, level in levels.items() if level == event.from_level)
        if len(at_level) < count:
            problems.append(f"events[{index}].count: {count} communities to change, but only "
                            f"{len(at_level)} are {event.from_level} by then")
        # Which ones the generator picks does not change how many remain at each level.
        levels.update(dict.fromkeys(at_level[:count], event.risk_level))
    return problems
