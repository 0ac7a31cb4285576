"""The outcome of a simulated lockdown as one self-contained HTML page for the supply office.

Did medicine reach households within 6 h, were vulnerable households served, was supply
fair across communities: Lifeline against the baseline policy, figure by figure, with the
charts (:mod:`services.simulation.charts`) embedded as PNGs. The page has inline CSS and no
script or external URL, so it can be mailed or opened from a USB stick as it is.

Any run may lack any optional key (an aborted run, an older outcome): what is missing
shows as a dash rather than failing the report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.simulation import charts
from services.simulation.page import CSS, PAGE, escape, section, table
from shared.clock import as_utc

log = logging.getLogger(__name__)

Run = Mapping[str, Any]
DASH, MINUS, TIMES = "—", "\u2212", "\u00d7"  # the minus sign, not a hyphen
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Beyond this many events a run's list is cut: the page is read, not searched.
MAX_EVENTS = 150


@dataclass(frozen=True)
class Spec:
    """How to show one figure; ``higher_is_better`` decides whether a difference is good news."""

    key: str
    label: str
    kind: Literal["share", "count", "ratio", "number", "bool"]
    unit: str = ""
    higher_is_better: bool | None = None


HEADLINE = (
    Spec("medical_within_6h_share", "medical orders delivered within 6 h", "share", higher_is_better=True),
    Spec("medical_reachable_within_6h_share", "medical orders whose gate opens within 6 h (the most possible)",
         "share"),
    Spec("medical_within_6h_share_of_reachable", "of those, delivered within 6 h", "share", higher_is_better=True),
    Spec("vulnerable_unserved_over_24h", "vulnerable households unserved > 24 h", "count", "households", False),
    Spec("fill_rate_worst_best_ratio", "fill rate, worst / best community", "ratio", higher_is_better=True),
    Spec("orders_lost", "orders lost", "count", "orders", False),
    Spec("orders_doubled", "orders doubled", "count", "orders", False),
    Spec("stock_conserved", "stock ledger balanced", "bool", higher_is_better=True),
    Spec("vehicle_km_per_tonne", "vehicle km per tonne delivered", "number", "km/t", False),
    Spec("vehicle_utilisation", "vehicle utilisation", "share", higher_is_better=True),
)
_KNOWN = {s.key: s for s in HEADLINE}
#: The per-run table, by where in the run each figure lives.
DETAILS: tuple[tuple[str, tuple[Spec, ...]], ...] = (
    ("orders", (Spec("placed", "orders placed", "count"), Spec("delivered", "delivered", "count"),
                Spec("failed_deliveries", "failed deliveries", "count"), Spec("rejected", "rejected", "count"),
                Spec("backordered_open", "backordered, still open", "count"),
                Spec("open", "still open (placed, reserved or scheduled)", "count"),
                Spec("refused_at_intake", "refused at intake", "count"))),
    ("figures", (Spec("vehicle_km", "vehicle km driven", "number", "km"),
                 Spec("tonnes_delivered", "tonnes delivered", "number", "t"),
                 Spec("vehicle_km_per_tonne", "vehicle km per tonne", "number", "km/t"),
                 Spec("vehicle_utilisation", "vehicle utilisation", "share"),
                 Spec("routes_driven", "routes driven", "count"))),
    ("", (Spec("wall_seconds", "wall-clock time of the run", "number", "s"),
          Spec("clock_speed", "simulated clock speed", "number", TIMES),
          Spec("planner_time_limit_s", "planner time limit", "number", "s"),
          Spec("action_lag_s", "worst lag of a scenario action", "number", "s"),
          Spec("actions_failed", "scenario actions that could not be performed", "count"),
          Spec("planner_iterations", "solver iterations per plan (lockstep)", "count"),
          Spec("lockstep_steps", "instants the conductor stepped through (lockstep)", "count"))),
)


def render_html(outcome: Mapping[str, Any]) -> str:
    started = time.perf_counter()
    scenario = _mapping(outcome.get("scenario"))
    runs = _ordered_runs(outcome)
    tz, tz_name = _timezone(scenario)
    sections = [
        _header(scenario, tz, tz_name), section("In short", f"<p class='summary'>{escape(_summary(runs))}</p>"),
        section("Headline figures", _headline_table(runs) + _misses(runs)),
        section("Delivery times by priority", _hours_table(runs)),
        *(_chart(c) for c in charts.draw_all(runs, scenario.get("days"), tz, tz_name)),
        section("Orders, fleet and run", _policies(runs) + _details_table(runs)),
        _events(runs, tz), _notes(outcome, runs),
    ]
    title = f"Lifeline outcome — {scenario.get('name') or 'simulation'}"
    page = PAGE.format(title=escape(title), css=CSS, body="\n".join(s for s in sections if s))
    log.debug("outcome report rendered in %.2f s", time.perf_counter() - started)
    return page


def write_report(outcome: Mapping[str, Any], directory: Path, stem: str = "report") -> tuple[Path, Path]:
    """``<stem>.json`` (the outcome itself) and ``<stem>.html`` in ``directory``; both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    json_path.write_text(json.dumps(outcome, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(outcome), encoding="utf-8")
    log.info("outcome report written to %s", html_path)
    return json_path, html_path


# -- reading the outcome ------------------------------------------------------------------------

def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _ordered_runs(outcome: Mapping[str, Any]) -> dict[str, Run]:
    """Lifeline first, then the baseline, then whatever else was run: columns read left to right."""
    runs = {k: v for k, v in _mapping(outcome.get("runs")).items() if isinstance(v, Mapping)}
    return {k: runs[k] for k in sorted(runs, key=lambda k: ({"lifeline": 0, "baseline": 1}.get(k, 2), k))}


def _timezone(scenario: Mapping[str, Any]) -> tuple[tzinfo, str]:
    name = str(scenario.get("timezone") or DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r in the outcome; showing %s", name, DEFAULT_TIMEZONE)
        return ZoneInfo(DEFAULT_TIMEZONE), DEFAULT_TIMEZONE


def _targets(run: Run) -> dict[str, Mapping[str, Any]]:
    return {str(t.get("figure") or t.get("label")): t for t in _list(run.get("targets")) if isinstance(t, Mapping)}


def _target(runs: Mapping[str, Run], key: str) -> Mapping[str, Any] | None:
    return next((_targets(r)[key] for r in runs.values() if key in _targets(r)), None)


def _value(run: Run | None, key: str) -> Any:
    figures = _mapping((run or {}).get("figures"))
    return figures[key] if key in figures else _mapping(_targets(run or {}).get(key)).get("value")


def _spec(key: str, runs: Mapping[str, Run]) -> Spec:
    """How to show a figure; one this report does not know (a new target) is guessed from its value."""
    if key in _KNOWN:
        return _KNOWN[key]
    target, value = _mapping(_target(runs, key)), next((_value(r, key) for r in runs.values()), None)
    label = str(target.get("label") or key.replace("_", " "))
    if isinstance(value, bool):
        return Spec(key, label, "bool")
    share = "%" in str(target.get("target")) and isinstance(value, float) and 0 <= value <= 1
    return Spec(key, label, "share" if share else "count" if isinstance(value, int) else "number")


# -- formatting ---------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fmt(value: Any, spec: Spec, sign: str = "") -> str:
    """``value`` for people: ``97.3 %``, ``1,234.5 km``; with ``sign="+"`` as a difference (``+41.2 pts``)."""
    if spec.kind == "bool":
        return {True: "yes", False: "no"}.get(value, DASH) if isinstance(value, bool) else DASH
    number = _number(value)
    if number is None:
        return DASH
    text = {"share": f"{number * 100:{sign},.1f}", "count": f"{number:{sign},.0f}", "ratio": f"{number:{sign}.2f}",
            "number": f"{number:{sign},.1f}"}[spec.kind]
    unit = ("pts" if sign else "%") if spec.kind == "share" else spec.unit
    return f"{text} {unit}".rstrip().replace("-", MINUS)


def _difference(ours: Any, theirs: Any, spec: Spec) -> tuple[str, str]:
    """Ours minus theirs as text and as a verdict for the CSS: ``better``, ``worse`` or neither."""
    if spec.kind == "bool":
        if not (isinstance(ours, bool) and isinstance(theirs, bool)):
            return DASH, ""
        return ("same", "") if ours == theirs else ("differs", "better" if ours == spec.higher_is_better else "worse")
    a, b = _number(ours), _number(theirs)
    if a is None or b is None:
        return DASH, ""
    text = _fmt(a - b, spec, sign="+")
    if not any(digit in text for digit in "123456789"):  # too small to show is no difference
        return "same", ""
    better = None if spec.higher_is_better is None else (a > b) == spec.higher_is_better
    return text, {True: "better", False: "worse", None: ""}[better]


def _target_text(target: Mapping[str, Any] | None) -> str:
    text = _mapping(target).get("target")
    return DASH if text is None or text == "" else str(text).replace(">=", "≥").replace("<=", "≤")


def _badge(target: Mapping[str, Any] | None) -> str:
    met = _mapping(target).get("met")
    if met is True:
        return " <span class='badge met'>✓ met</span>"
    return " <span class='badge missed'>✗ missed</span>" if met is False else ""


def _local_time(value: Any, tz: tzinfo) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return DASH
    # Without an offset, read as UTC (as the charts do), not as this machine's local time.
    return as_utc(moment).astimezone(tz).strftime("%a %d %b %H:%M")


# -- the summary --------------------------------------------------------------------------------

def _summary(runs: Mapping[str, Run]) -> str:
    if not runs:
        return "The outcome holds no run."
    key, run = next(iter(runs.items()))
    other = runs.get("baseline") if key == "lifeline" else None
    parts = [_medical_sentence(key, run, other), _vulnerable_sentence(run, other), _fairness_sentence(run, other),
             _integrity_sentence(run), _targets_sentence(run)]
    text = ". ".join(p[0].upper() + p[1:] for p in parts if p) + "." if any(parts) else DASH
    # A report of Lifeline says so in its title; any other run's figures are named as such.
    return text if key == "lifeline" else f"{charts.run_label(key)}: {text}"


def _medical_sentence(key: str, run: Run, other: Run | None) -> str:
    share, target = _number(_value(run, "medical_within_6h_share")), _targets(run).get("medical_within_6h_share")
    if share is None:
        return ""
    met = _mapping(target).get("met")
    verdict = ", met" if met is True else ", missed" if met is False else ""
    text = f"{share * 100:.1f} % of medical orders arrived within 6 h" + (
        f" (target {_target_text(target)}{verdict})" if target else "")
    theirs = _number(_value(other, "medical_within_6h_share"))
    if theirs is None:
        return text
    points = (share - theirs) * 100
    verb = "beat" if points >= 0.05 else "trailed" if points <= -0.05 else "matched"
    by = f" by {abs(points):.1f} points" if verb != "matched" else ""
    return f"{text}; {charts.run_label(key)} {verb} the baseline ({theirs * 100:.1f} %){by}"


def _vulnerable_sentence(run: Run, other: Run | None) -> str:
    late = _number(_value(run, "vulnerable_unserved_over_24h"))
    if late is None:
        return ""
    text = ("no vulnerable household waited more than 24 h" if late == 0 else
            f"{late:,.0f} vulnerable household{'s' if late != 1 else ''} waited more than 24 h")
    theirs = _number(_value(other, "vulnerable_unserved_over_24h"))
    return text + (f" (baseline: {theirs:,.0f})" if theirs is not None else "")


def _fairness_sentence(run: Run, other: Run | None) -> str:
    ratio = _number(_value(run, "fill_rate_worst_best_ratio"))
    if ratio is None:
        return ""
    theirs = _number(_value(other, "fill_rate_worst_best_ratio"))
    return (f"the worst-served community got {ratio * 100:.0f} % of the best-served one's fill rate"
            + (f" (baseline: {theirs * 100:.0f} %)" if theirs is not None else ""))


def _integrity_sentence(run: Run) -> str:
    lost, doubled, stock = (_value(run, k) for k in ("orders_lost", "orders_doubled", "stock_conserved"))
    if lost == 0 and doubled == 0 and stock is True:
        return "no order was lost or doubled and the stock ledger balanced"
    found = [f"{n:,} order{'s' if n != 1 else ''} {what}" for n, what in ((lost, "lost"), (doubled, "doubled"))
             if _number(n)]
    return "; ".join(found + (["the stock ledger did not balance"] if stock is False else []))


def _targets_sentence(run: Run) -> str:
    met = [t.get("met") for t in _targets(run).values()]
    return f"{sum(m is True for m in met)} of {len(met)} targets met" if met else ""


# -- the page's parts ---------------------------------------------------------------------------

def _header(scenario: Mapping[str, Any], tz: tzinfo, tz_name: str) -> str:
    days = scenario.get("days")
    facts = [f"{days} day{'s' if days != 1 else ''} from {_local_time(scenario.get('start'), tz)}"
             if days is not None else "", f"times in {tz_name}",
             f"seed {scenario['seed']}" if "seed" in scenario else "",
             f"scale {scenario['scale']}" if "scale" in scenario else ""]
    description = f"<p>{escape(scenario['description'])}</p>" if scenario.get("description") else ""
    return (f"<header><h1>Lifeline outcome — {escape(scenario.get('name') or 'simulation')}</h1>"
            f"<p class='meta'>{escape(' · '.join(f for f in facts if f))}</p>{description}</header>")


def _headline_table(runs: Mapping[str, Run]) -> str:
    keys = dict.fromkeys([*_KNOWN, *(k for r in runs.values() for k in _targets(r))])
    compared = {"lifeline", "baseline"} <= runs.keys()
    head = ["figure", "target", *map(charts.run_label, runs), *([f"Lifeline {MINUS} baseline"] if compared else [])]
    rows = []
    for key in keys:
        spec, target = _spec(key, runs), _target(runs, key)
        cells = [escape(_mapping(target).get("label") or spec.label), escape(_target_text(target))]
        cells += [escape(_fmt(_value(r, key), spec)) + _badge(_targets(r).get(key)) for r in runs.values()]
        if compared:
            text, verdict = _difference(_value(runs["lifeline"], key), _value(runs["baseline"], key), spec)
            cells.append(f"<span class='{verdict}'>{escape(text)}</span>")
        rows.append(cells)
    return table(head, rows, "headline")


def _misses(runs: Mapping[str, Run]) -> str:
    items = [f"<li><b>{escape(charts.run_label(key))}</b> missed <i>{escape(t.get('label') or t.get('figure'))}</i>"
             f" ({escape(_target_text(t))}): {escape(t.get('why') or 'no reason recorded')}</li>"
             for key, run in runs.items() for t in _targets(run).values() if t.get("met") is False]
    return f"<h3>Why targets were missed</h3><ul class='misses'>{''.join(items)}</ul>" if items else ""


def _hours_table(runs: Mapping[str, Run]) -> str:
    head = ["priority", *(f"{charts.run_label(k)} {c}" for k in runs for c in ("delivered", "median", "95th pct"))]
    count, hours = Spec("count", "", "count"), Spec("hours", "", "number", "h")
    rows = []
    for priority in charts.PRIORITIES:
        cells = [f"<span class='dot {priority}'></span>{escape(priority)}"]
        for run in runs.values():
            stats = _mapping(_mapping(_value(run, "delivery_hours_by_priority")).get(priority))
            cells += [escape(_fmt(stats.get("count"), count)), escape(_fmt(stats.get("median"), hours)),
                      escape(_fmt(stats.get("p95"), hours))]
        rows.append(cells)
    return table(head, rows, "numbers")


def _chart(chart: charts.Chart) -> str:
    image = f"<img src='data:image/png;base64,{chart.png_base64}' alt='{escape(chart.alt)}'>"
    caption = f"<figcaption>{escape(chart.caption)}</figcaption>"
    return section(chart.title, f"<figure>{image}{caption}</figure>", f"chart-{chart.key}")


def _policies(runs: Mapping[str, Run]) -> str:
    return "".join(f"<p><b>{escape(charts.run_label(k))}</b>: {escape(r.get('policy_description') or DASH)}</p>"
                   for k, r in runs.items())


def _details_table(runs: Mapping[str, Run]) -> str:
    def source(run: Run, where: str) -> Mapping[str, Any]:
        if where == "figures":
            return {**_mapping(run.get("figures")), "routes_driven": len(_list(run.get("routes"))) or None}
        return _mapping(run.get(where)) if where else run

    rows = [[escape(spec.label), *(escape(_fmt(source(r, where).get(spec.key), spec)) for r in runs.values())]
            for where, specs in DETAILS for spec in specs]
    return table(["", *map(charts.run_label, runs)], rows, "numbers")


def _events(runs: Mapping[str, Run], tz: tzinfo) -> str:
    lists = {k: [e for e in _list(r.get("events")) if isinstance(e, Mapping)] for k, r in runs.items()}
    whats = [[e.get("what") for e in events] for events in lists.values()]
    if len(lists) > 1 and all(w == whats[0] for w in whats):
        # The scenario's events, happening alike in every run: one list, not two.
        lists = {"both runs": next(iter(lists.values()))}
    parts = []
    for key, events in lists.items():
        rows = [[escape(_local_time(e.get("at"), tz)), escape(e.get("what") or DASH)] for e in events[:MAX_EVENTS]]
        more = f"<p class='meta'>… and {len(events) - MAX_EVENTS} more</p>" if len(events) > MAX_EVENTS else ""
        body = table(["when", "what happened"], rows, "events") + more if rows else f"<p>{DASH}</p>"
        parts.append(f"<h3>{escape(charts.run_label(key))}</h3>{body}")
    return section("Events", "".join(parts)) if parts else ""


def _notes(outcome: Mapping[str, Any], runs: Mapping[str, Run]) -> str:
    notes = [escape(n) for n in _list(outcome.get("notes"))]
    notes += [f"<b>{escape(charts.run_label(key))}</b>: {escape(note)}"
              for key, run in runs.items() for note in _list(run.get("notes"))]
    return section("Notes", "<ul>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>") if notes else ""


