"""The scenario file format as pydantic models, and the reading of YAML or JSON text.

These models only check the shape of a file (types, ranges, unknown fields); what needs
the city or the scenario's span (known depot ids, an event inside the simulated hours)
is checked in ``services.simulation.scenario``, which also turns a valid model into the
frozen dataclasses the generator reads. Every model is strict (``"3"`` is not a number)
and forbids unknown fields, so a typo is an error instead of a silently used default.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from difflib import get_close_matches
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

CITY_TIMEZONES = {"demo": "Asia/Shanghai"}
TIERS = ("city", "district", "community")
CATEGORIES = ("staple", "vegetable", "meat", "dairy", "medicine", "infant", "hygiene")
RISK_LEVELS = ("sealed", "controlled", "prevention", "normal")
EVENT_TYPES = ("shortage", "risk_change", "breakdown", "failed_handover", "late_arrival", "bad_stock_events")
MAX_DAYS = 14

Category = Literal["staple", "vegetable", "meat", "dairy", "medicine", "infant", "hygiene"]
RiskLevel = Literal["sealed", "controlled", "prevention", "normal"]

_CLOCK = re.compile(r"(\d{2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def local_instant(start_date: date, day: int, at: time, tz: ZoneInfo) -> datetime:
    """Local time ``at`` on 1-based ``day`` from ``start_date``, as an aware UTC datetime."""
    return datetime.combine(start_date + timedelta(days=day - 1), at, tzinfo=tz).astimezone(UTC)


def shown(value: Any) -> str:
    """A value as the analyst wrote it, in JSON spelling (strings in double quotes)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _time_of_day(value: Any, *, allow_midnight_end: bool = False) -> time | None:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and (match := _CLOCK.fullmatch(value)):
        hours, minutes = int(match[1]), int(match[2])
        if allow_midnight_end and (hours, minutes) == (24, 0):
            return None  # the end of the day; ``time`` cannot hold 24:00
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    hint = ' (write it in quotes, e.g. "08:00")' if isinstance(value, int | float) else ""
    raise PydanticCustomError("time_of_day", "{shown} is not a time of day HH:MM{hint}",
                              {"shown": shown(value), "hint": hint})


def _end_of_run(value: Any) -> time | None:
    return None if value is None else _time_of_day(value, allow_midnight_end=True)


def _local_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("local_date", "{shown} is not a date YYYY-MM-DD", {"shown": shown(value)})


def _one_or_many(value: Any) -> Any:
    """``depots: district`` reads as ``depots: [district]``."""
    return [value] if isinstance(value, str) else value


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]
EndOfRun = Annotated[time | None, BeforeValidator(_end_of_run)]
LocalDate = Annotated[date, BeforeValidator(_local_date)]
Day = Annotated[int, Field(ge=1, le=MAX_DAYS)]
Share = Annotated[float, Field(ge=0, le=1)]
Weight = Annotated[float, Field(ge=0, le=1000)]
# Each entry: "all", a tier (city, district, community) or a depot id.
DepotChoice = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_one_or_many), Field(min_length=1)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PeakModel(_Strict):
    name: Text
    at: TimeOfDay
    weight: Weight
    width_h: float = Field(default=1.0, gt=0, le=12)


class NightModel(_Strict):
    start: TimeOfDay = time(23)
    end: TimeOfDay = time(6)
    weight: Weight = 0.1


# Residents of a sealed city order when delivery slots open in the morning and after
# dinner; the evening wave is the larger one (households plan the next day together).
DEFAULT_PEAKS = (
    PeakModel(name="morning", at=time(8), weight=1.5, width_h=1.0),
    PeakModel(name="evening", at=time(20), weight=2.0, width_h=1.2),
)


class HourlyProfileModel(_Strict):
    weights: Annotated[list[Weight], Field(min_length=24, max_length=24)] | None = None
    day_weight: Weight = 1.0
    night: NightModel = NightModel()
    peaks: list[PeakModel] = Field(default_factory=lambda: list(DEFAULT_PEAKS))

    @model_validator(mode="after")
    def _one_form(self) -> HourlyProfileModel:
        if self.weights is not None:
            mixed = sorted(self.model_fields_set & {"day_weight", "night", "peaks"})
            if mixed:
                raise ValueError(f"give either weights (24 numbers) or {', '.join(mixed)}, not both")
            if not any(self.weights):
                raise ValueError("weights are all zero: no hour would have orders")
        elif self.day_weight == 0 and self.night.weight == 0 and not any(p.weight for p in self.peaks):
            raise ValueError("every weight is zero: no hour would have orders")
        return self


class RiskWeightsModel(_Strict):
    # Households of a sealed community cannot go out at all, so they order most; a
    # normal community's residents still shop in person.
    sealed: Weight = 1.5
    controlled: Weight = 1.2
    prevention: Weight = 0.9
    normal: Weight = 0.8

    @model_validator(mode="after")
    def _someone_orders(self) -> RiskWeightsModel:
        if not any((self.sealed, self.controlled, self.prevention, self.normal)):
            raise ValueError("every risk weight is zero: no household would order")
        return self


class OrdersModel(_Strict):
    per_household_per_day: float = Field(default=0.5, gt=0, le=10)
    hourly_profile: HourlyProfileModel = HourlyProfileModel()
    medicine_share: Share = 0.10
    on_behalf_share: Share = 0.5
    risk_weights: RiskWeightsModel = RiskWeightsModel()


class StockArrivalModel(_Strict):
    at: TimeOfDay
    days: Annotated[list[Day], Field(min_length=1)] | None = None
    depots: DepotChoice
    categories: list[Category] = Field(default_factory=list)
    skus: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    quantity: int = Field(gt=0, le=1_000_000)
    reason: Text = "scheduled supply"

    @model_validator(mode="after")
    def _something_arrives(self) -> StockArrivalModel:
        if not self.categories and not self.skus:
            raise ValueError("name the goods: categories, skus or both")
        return self


class _EventModel(_Strict):
    day: Day
    at: TimeOfDay


class ShortageModel(_EventModel):
    type: Literal["shortage"]
    category: Category
    depots: DepotChoice = Field(default_factory=lambda: ["all"])
    fraction: float = Field(gt=0, le=1)
    reason: Text


class RiskChangeModel(_EventModel):
    type: Literal["risk_change"]
    risk_level: RiskLevel
    communities: Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_one_or_many)] | None = None
    count: int | None = Field(default=None, ge=1, le=1000)
    from_level: RiskLevel | None = None

    @model_validator(mode="after")
    def _which_communities(self) -> RiskChangeModel:
        if (self.communities is None) == (self.count is None):
            raise ValueError("give either communities (a list of ids) or count with from_level")
        if self.count is not None and self.from_level is None:
            raise ValueError("count needs from_level: the level the picked communities are at")
        if self.from_level is not None and self.from_level == self.risk_level:
            raise ValueError(f"from_level and risk_level are both {self.risk_level}: nothing would change")
        return self


class BreakdownModel(_EventModel):
    type: Literal["breakdown"]
    vehicle: Text = "any"


class FailedHandoverModel(_EventModel):
    type: Literal["failed_handover"]
    community: Text = "any"
    reason: Text


class LateArrivalModel(_EventModel):
    type: Literal["late_arrival"]
    vehicle: Text = "any"
    minutes: int = Field(ge=1, le=24 * 60)


class BadStockEventsModel(_EventModel):
    type: Literal["bad_stock_events"]
    depot: Text
    duplicates: int = Field(default=0, ge=0, le=10_000)
    malformed: int = Field(default=0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _some_events(self) -> BadStockEventsModel:
        if self.duplicates == 0 and self.malformed == 0:
            raise ValueError("duplicates and malformed are both 0: the batch would hold nothing")
        return self


EventModel = Annotated[
    ShortageModel | RiskChangeModel | BreakdownModel | FailedHandoverModel | LateArrivalModel | BadStockEventsModel,
    Field(discriminator="type"),
]


class SpanModel(BaseModel):
    """The simulated period alone, read leniently so that it can be checked when other fields are broken."""

    model_config = ConfigDict(strict=True, extra="ignore")
    start_date: LocalDate
    days: Day
    start_time: TimeOfDay = time(0)
    end_time: EndOfRun = None


class ScenarioModel(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
    description: str = ""
    seed: int
    city: Literal["demo"]
    start_date: LocalDate
    days: Day
    start_time: TimeOfDay = time(0)
    end_time: EndOfRun = None
    orders: OrdersModel = OrdersModel()
    stock_arrivals: list[StockArrivalModel] = Field(default_factory=list)
    events: list[EventModel] = Field(default_factory=list)


_MODELS: tuple[type[BaseModel], ...] = (
    ScenarioModel, OrdersModel, HourlyProfileModel, NightModel, PeakModel, RiskWeightsModel, StockArrivalModel,
    ShortageModel, RiskChangeModel, BreakdownModel, FailedHandoverModel, LateArrivalModel, BadStockEventsModel,
)
KNOWN_FIELDS = sorted({name for model in _MODELS for name in model.model_fields})


# --- reading -------------------------------------------------------------------------

class _ScenarioLoader(yaml.SafeLoader):
    """YAML as an analyst means it. YAML 1.1 reads ``10:30`` as the base-60 number 630,
    ``2026-11-20`` as a date object and ``no`` as false; here times and dates stay the
    text written, only true/false are booleans, and a key given twice is an error
    instead of the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {shown(key)} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_REPLACED = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
             "tag:yaml.org,2002:timestamp"}
_ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_text(text: str, *, as_json: bool) -> tuple[Any, str | None]:
    """The document, or None and why it cannot be read."""
    try:
        if as_json:
            return json.loads(text), None
        return yaml.load(text, Loader=_ScenarioLoader), None
    except json.JSONDecodeError as error:
        return None, f"line {error.lineno} column {error.colno}: not valid JSON: {error.msg}"
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        return None, f"{where}not valid YAML: {error.problem or error.context}"
    except yaml.YAMLError as error:
        return None, f"not valid YAML: {error}"


# --- errors --------------------------------------------------------------------------

def field_path(loc: tuple[int | str, ...]) -> str:
    """``('events', 2, 'shortage', 'at')`` → ``events[2].at`` (the union's tag is noise)."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif index == 2 and loc[0] == "events" and part in EVENT_TYPES:
            continue
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def describe(error: ValidationError) -> list[str]:
    """One ``path: message`` line per problem, in the file's order."""
    lines = []
    for item in error.errors(include_url=False):
        path, kind, ctx = field_path(item["loc"]), item["type"], item.get("ctx") or {}
        if kind == "missing":
            message = "required field is missing"
        elif kind == "extra_forbidden":
            near = get_close_matches(str(item["loc"][-1]), KNOWN_FIELDS, n=1)
            message = "unknown field" + (f" (did you mean {near[0]}?)" if near else "")
        elif kind == "literal_error":
            message = f"{shown(item['input'])} is not allowed; allowed: {ctx.get('expected')}"
        elif kind == "union_tag_invalid":
            path = f"{path}.type"
            message = f"{shown(ctx.get('tag'))} is not an event type; allowed: {', '.join(EVENT_TYPES)}"
        elif kind == "union_tag_not_found":
            path = f"{path}.type"
            message = f"required field is missing (one of {', '.join(EVENT_TYPES)})"
        elif kind == "value_error":
            message = item["msg"].removeprefix("Value error, ")
        elif kind in {"time_of_day", "local_date"}:
            message = item["msg"]
        elif kind == "string_pattern_mismatch" and path == "name":
            message = f"{shown(item['input'])} should be lower-case letters, digits and dashes, e.g. lockdown-day"
        elif kind in {"too_short", "too_long"} and path.endswith("hourly_profile.weights"):
            message = f"needs 24 weights, one per hour from 00:00 (got {len(item['input'])})"
        else:
            message = f"{item['msg'][:1].lower()}{item['msg'][1:]} (got {shown(item['input'])})"
        lines.append(f"{path}: {message}" if path else message)
    return lines


def in_file_order(problems: list[str]) -> list[str]:
    """Problems sorted by where they are in a file: top-level field, then list entry
    (the schema's and the consistency checks' problems interleaved)."""
    order = {name: rank for rank, name in enumerate(ScenarioModel.model_fields)}

    def key(problem: str) -> tuple[int, int]:
        match = _PATH_HEAD.match(problem)
        if match is None:
            return -1, 0
        return order.get(match[1], len(order)), int(match[2] or 0)

    return sorted(problems, key=key)


_PATH_HEAD = re.compile(r"([a-z_]+)(?:\[(\d+)\])?[.:\[]")
