"""Lockdown scenarios: what a supply office expects to happen over a few days, as data.

A scenario file (YAML or JSON, documented in ``SCENARIOS.md``) names the city, the
simulated period, the order waves, the daily stock arrivals and the timed events
(shortages, risk changes, breakdowns, refused hand-overs, late vehicles, bad warehouse
batches). ``load_scenario`` reads and checks one and returns a frozen ``Scenario``;
``services.simulation.actions.plan_actions`` turns it into the timed actions the
simulator performs against the services.

Times in a file are local to the city (Asia/Shanghai for the demo city); the
``Scenario`` converts them to aware UTC instants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.simulation import schema
from services.simulation.checks import check_consistency

SCENARIO_DIR = Path(__file__).with_name("scenarios")


class ScenarioError(ValueError):
    """A scenario that cannot be read or is not valid; one ``file: path: problem`` line each."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


# --- the format ----------------------------------------------------------------------

@dataclass(frozen=True)
class Peak:
    name: str
    at: time  # the centre of the wave
    weight: float  # extra weight at the centre, relative to an ordinary day hour
    width_h: float  # how far the wave spreads (standard deviation, hours)


@dataclass(frozen=True)
class HourlyProfile:
    """Relative order weight of each local hour, 0 to 23 (only ratios matter)."""

    weights: tuple[float, ...]
    peaks: tuple[Peak, ...] = ()  # as written, when the weights came from peaks

    def shares(self) -> tuple[float, ...]:
        total = sum(self.weights)
        return tuple(weight / total for weight in self.weights)


@dataclass(frozen=True)
class RiskWeights:
    """How much a household orders at each risk level, relative to the others."""

    sealed: float
    controlled: float
    prevention: float
    normal: float

    def of(self, risk_level: str) -> float:
        return float(getattr(self, risk_level))


@dataclass(frozen=True)
class OrderWaves:
    per_household_per_day: float
    hourly_profile: HourlyProfile
    medicine_share: float  # share of orders carrying at least one medicine line
    on_behalf_share: float  # share of elderly-alone and disabled households' orders a worker places
    risk_weights: RiskWeights


@dataclass(frozen=True)
class StockArrivalRule:
    at: time
    days: tuple[int, ...] | None  # None: every day
    depots: tuple[str, ...]  # "all", tiers and depot ids
    categories: tuple[str, ...]
    skus: tuple[str, ...]
    quantity: int  # units of each SKU at each depot, before --scale
    reason: str

    def fires_on(self, day: int) -> bool:
        return self.days is None or day in self.days


@dataclass(frozen=True)
class ShortageEvent:
    day: int
    at: time
    category: str
    depots: tuple[str, ...]
    fraction: float  # share of each SKU's stock at the depot that is lost
    reason: str


@dataclass(frozen=True)
class RiskChangeEvent:
    day: int
    at: time
    risk_level: str
    communities: tuple[str, ...]  # empty when picked by count
    count: int | None
    from_level: str | None


@dataclass(frozen=True)
class BreakdownEvent:
    day: int
    at: time
    vehicle: str  # an id, or "any"


@dataclass(frozen=True)
class FailedHandoverEvent:
    day: int
    at: time
    community: str  # an id, or "any"
    reason: str


@dataclass(frozen=True)
class LateArrivalEvent:
    day: int
    at: time
    vehicle: str  # an id, or "any"
    minutes: int


@dataclass(frozen=True)
class BadStockBatchEvent:
    day: int
    at: time
    depot: str
    duplicates: int
    malformed: int


Event = ShortageEvent | RiskChangeEvent | BreakdownEvent | FailedHandoverEvent | LateArrivalEvent | BadStockBatchEvent


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    city: str
    start_date: date  # local date in the city's timezone
    days: int
    start_time: time  # of the first day
    end_time: time | None  # of the last day; None: midnight at its end
    orders: OrderWaves
    stock_arrivals: tuple[StockArrivalRule, ...]
    events: tuple[Event, ...]
    source: str  # the file it was read from

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(schema.CITY_TIMEZONES[self.city])

    def instant(self, day: int, at: time) -> datetime:
        """Local time ``at`` on 1-based ``day`` as an aware UTC datetime."""
        return schema.local_instant(self.start_date, day, at, self.timezone)

    @property
    def start(self) -> datetime:
        return self.instant(1, self.start_time)

    @property
    def end(self) -> datetime:
        """Exclusive: nothing happens at or after it."""
        if self.end_time is None:
            return self.instant(self.days + 1, time(0))
        return self.instant(self.days, self.end_time)


# --- loading -------------------------------------------------------------------------

def available_scenarios() -> list[str]:
    """The names of the shipped scenarios."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name (``lockdown-day``), or a ``.yaml``/``.yml``/``.json`` file."""
    if name_or_path.endswith((".yaml", ".yml", ".json")) or "/" in name_or_path or "\\" in name_or_path:
        path = Path(name_or_path)
    else:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ScenarioError(name_or_path, [
                f"no shipped scenario of that name; shipped: {', '.join(available_scenarios())} "
                "(or give the path of a .yaml, .yml or .json file)"])
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), [f"cannot be read: {error}"]) from error
    return parse_scenario(text, source=source, as_json=path.suffix == ".json")


def parse_scenario(text: str, *, source: str, as_json: bool = False) -> Scenario:
    """A scenario from its text; ``source`` names it in errors."""
    raw, unreadable = schema.parse_text(text, as_json=as_json)
    if unreadable:
        raise ScenarioError(source, [unreadable])
    if not isinstance(raw, dict):
        raise ScenarioError(source, ["the file must hold a mapping of fields (name, seed, city, start_date, ...)"])
    problems: list[str] = []
    model: schema.ScenarioModel | None = None
    try:
        model = schema.ScenarioModel.model_validate(raw)
    except ValidationError as error:
        problems += schema.describe(error)
    # What needs the city or the span is checked on every part that is valid by itself,
    # so one run reports all there is to fix, not the rest only after the first round.
    problems += check_consistency(raw)
    if problems or model is None:
        raise ScenarioError(source, schema.in_file_order(problems))
    return _to_scenario(model, source)


# --- model to dataclasses ------------------------------------------------------------

def _profile(model: schema.HourlyProfileModel) -> HourlyProfile:
    if model.weights is not None:
        return HourlyProfile(weights=tuple(model.weights))
    peaks = tuple(Peak(p.name, p.at, p.weight, p.width_h) for p in model.peaks)
    night_start, night_end = _minutes(model.night.start), _minutes(model.night.end)
    weights = []
    for hour in range(24):
        centre = hour * 60 + 30
        at_night = (night_start <= centre < night_end if night_start <= night_end
                    else centre >= night_start or centre < night_end)
        weight = model.night.weight if at_night else model.day_weight
        for peak in peaks:
            distance_h = abs(centre - _minutes(peak.at)) / 60
            distance_h = min(distance_h, 24 - distance_h)  # an evening wave spills past midnight
            weight += peak.weight * math.exp(-0.5 * (distance_h / peak.width_h) ** 2)
        weights.append(round(weight, 6))
    return HourlyProfile(weights=tuple(weights), peaks=peaks)


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def _event(model: Any) -> Event:
    if isinstance(model, schema.ShortageModel):
        return ShortageEvent(model.day, model.at, model.category, tuple(model.depots), model.fraction, model.reason)
    if isinstance(model, schema.RiskChangeModel):
        return RiskChangeEvent(model.day, model.at, model.risk_level, tuple(model.communities or ()),
                               model.count, model.from_level)
    if isinstance(model, schema.BreakdownModel):
        return BreakdownEvent(model.day, model.at, model.vehicle)
    if isinstance(model, schema.FailedHandoverModel):
        return FailedHandoverEvent(model.day, model.at, model.community, model.reason)
    if isinstance(model, schema.LateArrivalModel):
        return LateArrivalEvent(model.day, model.at, model.vehicle, model.minutes)
    assert isinstance(model, schema.BadStockEventsModel)
    return BadStockBatchEvent(model.day, model.at, model.depot, model.duplicates, model.malformed)


def _to_scenario(model: schema.ScenarioModel, source: str) -> Scenario:
    waves = model.orders
    risk = waves.risk_weights
    return Scenario(
        name=model.name, description=model.description.strip(), seed=model.seed, city=model.city,
        start_date=model.start_date, days=model.days, start_time=model.start_time, end_time=model.end_time,
        orders=OrderWaves(
            per_household_per_day=waves.per_household_per_day, hourly_profile=_profile(waves.hourly_profile),
            medicine_share=waves.medicine_share, on_behalf_share=waves.on_behalf_share,
            risk_weights=RiskWeights(risk.sealed, risk.controlled, risk.prevention, risk.normal),
        ),
        stock_arrivals=tuple(
            StockArrivalRule(at=r.at, days=tuple(sorted(set(r.days))) if r.days else None, depots=tuple(r.depots),
                             categories=tuple(r.categories), skus=tuple(r.skus), quantity=r.quantity,
                             reason=r.reason)
            for r in model.stock_arrivals
        ),
        events=tuple(_event(e) for e in model.events),
        source=source,
    )
