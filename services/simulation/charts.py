"""The outcome report's charts: matplotlib figures drawn off-screen and returned as PNGs.

Each chart is a ``matplotlib.figure.Figure`` rendered by the Agg canvas, never pyplot: a
``Figure`` owns its state, so charts can be drawn from any thread and none lingers in a
global registry afterwards. matplotlib is imported inside the functions so that importing
the report (say, by the CLI) costs nothing until a report is drawn.

The deliveries of a run may number tens of thousands: they are turned into numpy arrays
once (:func:`delivery_arrays`) and every chart works on those.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.clock import as_utc

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PRIORITIES = ("medical", "vulnerable", "standard")
PRIORITY_COLOURS = {"medical": "#c0392b", "vulnerable": "#e67e22", "standard": "#7393a7", "other": "#b8b8b8"}
RUN_COLOURS = {"lifeline": "#1f5f8b", "baseline": "#a0a0a0"}
RISK_COLOURS = {"sealed": "#a93226", "controlled": "#e67e22", "prevention": "#d4ac0d", "normal": "#82a88c"}
MEDICAL_SLA_HOURS = 6.0
#: Every UTC offset in use is a multiple of 15 minutes: instants in one such slot share a local hour.
_SLOT_S = 900
_DPI = 130


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    caption: str
    alt: str
    png_base64: str


@dataclass(frozen=True)
class Deliveries:
    """A run's delivered orders as parallel arrays (NaN or -1 where a record was unreadable)."""

    priority: np.ndarray  # str, one of PRIORITIES or "other"
    hours: np.ndarray  # float, placement to delivery
    local_hour: np.ndarray  # int, hour of day of the delivery in the scenario's timezone


def run_label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def run_colour(key: str) -> str:
    return RUN_COLOURS.get(key, "#5d6d7e")


def _epoch_s(value: Any) -> float:
    """Seconds since the epoch of an ISO 8601 instant; a missing offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return math.nan
    return as_utc(moment).timestamp()


def local_hours(epoch_s: np.ndarray, tz: tzinfo) -> np.ndarray:
    """Hour of day in ``tz`` of each instant (-1 where NaN). Asks the timezone once per
    distinct 15-minute slot rather than once per instant: a day has 96 of them."""
    result = np.full(epoch_s.shape, -1, dtype=int)
    known = ~np.isnan(epoch_s)
    if not known.any():
        return result
    slots, inverse = np.unique(np.floor(epoch_s[known] / _SLOT_S).astype(np.int64), return_inverse=True)
    slot_hours = np.array([datetime.fromtimestamp(int(s) * _SLOT_S, tz).hour for s in slots])
    result[known] = slot_hours[inverse.ravel()]
    return result


def _hours(delivery: Mapping[str, Any]) -> float:
    try:
        return float(delivery["hours"])
    except (KeyError, TypeError, ValueError):
        return (_epoch_s(delivery.get("delivered_at")) - _epoch_s(delivery.get("placed_at"))) / 3600


def delivery_arrays(deliveries: Sequence[Mapping[str, Any]], tz: tzinfo) -> Deliveries:
    priority = np.array([d.get("priority") for d in deliveries], dtype=object).astype(str)
    priority[~np.isin(priority, PRIORITIES)] = "other"
    hours = np.array([_hours(d) for d in deliveries], dtype=float)
    delivered = np.array([_epoch_s(d.get("delivered_at")) for d in deliveries], dtype=float)
    return Deliveries(priority=priority, hours=hours, local_hour=local_hours(delivered, tz))


def draw_all(runs: Mapping[str, Mapping[str, Any]], days: Any, tz: tzinfo, tz_name: str) -> list[Chart]:
    """The report's four charts of the runs (raw, as in the outcome), in reading order."""
    deliveries = ({k: delivery_arrays(_records(r.get("deliveries")), tz) for k, r in runs.items()}
                  or {"": delivery_arrays([], tz)})  # no run at all: empty panels rather than no chart
    # Every run is of the same city: the first run to list a place describes it.
    communities = _places(runs, "communities")
    risk = {str(c.get("id")): str(c.get("risk_level")) for c in communities}
    fill_rates = {k: f.get("fill_rate_by_community") if isinstance(f := r.get("figures"), Mapping) else None
                  for k, r in runs.items()}
    return [
        hourly_chart(deliveries, {k: r.get("placed_by_hour") for k, r in runs.items()}, tz_name, days),
        sla_chart(deliveries),
        fill_rate_chart({k: v if isinstance(v, Mapping) else {} for k, v in fill_rates.items()}, risk),
        map_chart({k: _records(r.get("routes")) for k, r in runs.items()}, communities, _places(runs, "depots")),
    ]


def _records(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list | tuple) else []


def _places(runs: Mapping[str, Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    by_id: dict[str, Mapping[str, Any]] = {}
    for run in runs.values():
        for place in _records(run.get(key)):
            by_id.setdefault(str(place.get("id")), place)
    return list(by_id.values())


def _png_base64(figure: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No "Software" stamp: the same outcome gives the same bytes.
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    figure.set_layout_engine("constrained", h_pad=0.08, w_pad=0.08)
    return figure


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="#777777", fontsize=10)


def hourly_chart(runs: Mapping[str, Deliveries], placed_by_hour: Mapping[str, Any], tz_name: str,
                 days: Any) -> Chart:
    figure = _figure(11, 3.6)
    axes = figure.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    hours = np.arange(24)
    for ax, (key, run) in zip(axes, runs.items(), strict=True):
        bottom = np.zeros(24)
        for priority in (*PRIORITIES, "other"):
            counts = np.bincount(run.local_hour[(run.priority == priority) & (run.local_hour >= 0)], minlength=24)
            if priority == "other" and not counts.any():
                continue
            ax.bar(hours, counts, bottom=bottom, width=0.85, color=PRIORITY_COLOURS[priority], label=priority)
            bottom += counts
        placed = _placed_total(placed_by_hour.get(key))
        if placed is not None:
            ax.step(np.arange(25) - 0.5, np.append(placed, placed[-1]), where="post", color="#222222",
                    linewidth=1.2, label="placed (all priorities)")
        _style(ax)
        ax.set_title(run_label(key), fontsize=11, loc="left", color=run_colour(key), fontweight="bold")
        ax.set_xticks(range(0, 24, 3), [f"{h:02d}:00" for h in range(0, 24, 3)])
        ax.set_xlim(-0.6, 23.6)
        ax.set_xlabel(f"hour of day ({tz_name})", fontsize=9)
    axes[0].set_ylabel("orders delivered", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("placed"))  # bars first, as stacked
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    figure.legend(handles, labels, loc="outside upper center", ncols=len(labels), fontsize=8, frameon=False)
    over = f"summed over the scenario's {days} days" if isinstance(days, int) and days > 1 else "over the day"
    return Chart("hourly", "Deliveries by hour of day",
                 f"Orders delivered in each hour of the day, stacked by priority, {over}; the black line is "
                 "the orders placed in that hour.",
                 "Bar charts of orders delivered per hour of day, stacked by medical, vulnerable and standard "
                 "priority, one panel per policy, with the orders placed per hour as a line.",
                 _png_base64(figure))


def _placed_total(by_priority: Any) -> np.ndarray | None:
    if not isinstance(by_priority, Mapping):
        return None
    rows = [np.asarray(v, dtype=float) for v in by_priority.values() if isinstance(v, list) and len(v) == 24]
    return np.sum(rows, axis=0) if rows else None


def sla_chart(runs: Mapping[str, Deliveries]) -> Chart:
    figure = _figure(11, 3.4)
    axes = figure.subplots(1, len(PRIORITIES), sharey=True)
    known = np.concatenate([r.hours[~np.isnan(r.hours)] for r in runs.values()])
    right = max(2 * MEDICAL_SLA_HOURS, float(np.percentile(known, 99)) * 1.05) if known.size else 24.0
    for ax, priority in zip(axes, PRIORITIES, strict=True):
        drawn = False
        for key, run in runs.items():
            hours = np.sort(run.hours[(run.priority == priority) & ~np.isnan(run.hours)])
            if not hours.size:
                continue
            share = np.arange(1, hours.size + 1) / hours.size
            within = float(np.mean(hours <= MEDICAL_SLA_HOURS)) * 100
            ax.step(np.concatenate([[0.0], hours]), np.concatenate([[0.0], share]), where="post",
                    color=run_colour(key), linewidth=2 if key == "lifeline" else 1.6,
                    label=f"{run_label(key)}: {within:.0f} % ≤ 6 h (n={hours.size:,})")
            drawn = True
        ax.axvline(MEDICAL_SLA_HOURS, color=PRIORITY_COLOURS["medical"], linestyle=":", linewidth=1.3,
                   label="6 h (medical target)")
        _style(ax)
        ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
        ax.set_xlim(0, right)
        ax.set_ylim(0, 1.02)
        ax.set_title(priority, fontsize=11, loc="left", color=PRIORITY_COLOURS[priority], fontweight="bold")
        ax.set_xlabel("hours from placement to delivery", fontsize=9)
        if drawn:
            ax.legend(fontsize=8, frameon=False, loc="lower right")
        else:
            _no_data(ax, "no deliveries")
    axes[0].set_ylabel("share of delivered orders", fontsize=9)
    axes[0].yaxis.set_major_formatter(lambda y, _pos: f"{y * 100:.0f} %")
    return Chart("sla", "Time from placement to delivery",
                 "Cumulative share of delivered orders that arrived within a given number of hours, per "
                 "priority (orders never delivered are not in these curves; they count against the "
                 "headline figures). The dotted line is the 6 h medical target.",
                 "Cumulative distribution curves of delivery hours for medical, vulnerable and standard orders, "
                 "comparing the policies, with a vertical line at 6 hours.",
                 _png_base64(figure))


def fill_rate_chart(fill_rates: Mapping[str, Mapping[str, Any]], risk: Mapping[str, str]) -> Chart:
    from matplotlib.patches import Patch

    keys = list(fill_rates)
    rates = {k: {c: float(v) for c, v in fill_rates[k].items() if isinstance(v, int | float)} for k in keys}
    primary = rates[keys[0]] if keys else {}
    communities = sorted({c for r in rates.values() for c in r}, key=lambda c: (primary.get(c, math.inf), c))
    figure = _figure(11, 3.9)
    ax = figure.subplots()
    _style(ax)
    if not communities:
        _no_data(ax, "no fill rates recorded")
    x = np.arange(len(communities))
    width = 0.8 / max(1, len(keys))
    for offset, key in enumerate(keys):
        values = np.array([rates[key].get(c, math.nan) for c in communities])
        ax.bar(x + (offset - (len(keys) - 1) / 2) * width, values, width=width, color=run_colour(key),
               label=run_label(key))
    sealed = [i for i, c in enumerate(communities) if risk.get(c) == "sealed"]
    for i in sealed:
        ax.axvspan(i - 0.5, i + 0.5, color=RISK_COLOURS["sealed"], alpha=0.09, linewidth=0)
    ax.set_xticks(x, communities, rotation=90, fontsize=max(5.5, min(8.0, 420 / max(1, len(communities)))))
    for i in sealed:
        ax.get_xticklabels()[i].set(color=RISK_COLOURS["sealed"], fontweight="bold")
    ax.set_xlim(-0.7, len(communities) - 0.3)
    # A fill rate above 100 % is possible (orders of an earlier day delivered today): show it, do not clip it.
    ax.set_ylim(0, max([1.0, *(v for r in rates.values() for v in r.values())]) * 1.08)
    ax.yaxis.set_major_formatter(lambda y, _pos: f"{y * 100:.0f} %")
    ax.set_ylabel("delivered / placed", fontsize=9)
    handles, _labels = ax.get_legend_handles_labels()
    if sealed:
        handles.append(Patch(color=RISK_COLOURS["sealed"], alpha=0.25, label="sealed community (red label)"))
    # Above the bars: inside, it would hide the best-served communities.
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="lower right", bbox_to_anchor=(1, 1),
              ncols=len(handles))
    return Chart("fill", "Fill rate per community",
                 "Share of each community's orders that were delivered, worst first (sorted by "
                 f"{run_label(keys[0]) if keys else 'the first run'}); sealed communities are shaded, "
                 "their ids in red.",
                 "Grouped bar chart of the fill rate of every community for each policy, sorted from worst to "
                 "best, sealed communities highlighted.",
                 _png_base64(figure))


def map_chart(routes: Mapping[str, Sequence[Mapping[str, Any]]], communities: Sequence[Mapping[str, Any]],
              depots: Sequence[Mapping[str, Any]]) -> Chart:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    places = [c for c in communities if _point(c) is not None]
    depot_at = {d.get("id"): p for d in depots if (p := _point(d)) is not None}
    figure = _figure(11, 5.6 if len(routes) > 1 else 7)
    axes = figure.subplots(1, max(1, len(routes)), sharex=True, sharey=True, squeeze=False)[0]
    known = np.array([p for p in (*map(_point, places), *depot_at.values()) if p is not None]).reshape(-1, 2)
    for ax, key in zip(axes, routes or {"": []}, strict=True):
        lines = [_route_line(r, depot_at) for r in routes.get(key, [])]
        lines = [line for line in lines if len(line) > 1]
        ax.add_collection(LineCollection(lines, colors=run_colour(key) if key else "#5d6d7e", linewidths=0.9,
                                         alpha=0.35, zorder=1))
        for level, colour in RISK_COLOURS.items():
            at = np.array([_point(c) for c in places if c.get("risk_level") == level]).reshape(-1, 2)
            ax.scatter(at[:, 1], at[:, 0], s=34, color=colour, edgecolors="white", linewidths=0.6, zorder=3)
        for depot in depots:
            if (point := depot_at.get(depot.get("id"))) is None:
                continue
            big = depot.get("tier") == "city"
            ax.scatter([point[1]], [point[0]], marker="*" if big else "s", s=150 if big else 42, color="#1b2631",
                       edgecolors="white", linewidths=0.6, zorder=4)
            ax.annotate(str(depot.get("id", "")), (point[1], point[0]), xytext=(4, 4), textcoords="offset points",
                        fontsize=7, color="#1b2631", zorder=5)
        ax.set_title(f"{run_label(key)}: {len(lines)} routes driven" if key else "no routes recorded",
                     fontsize=11, loc="left", color=run_colour(key), fontweight="bold")
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel("longitude", fontsize=9)
        if known.size:
            _frame(ax, known)
        else:
            _no_data(ax, "no places recorded")
    axes[0].set_ylabel("latitude", fontsize=9)
    legend = [Line2D([], [], marker="o", linestyle="", color=c, label=f"{level} community")
              for level, c in RISK_COLOURS.items()]
    legend += [Line2D([], [], marker="s", linestyle="", color="#1b2631", label="depot (★ city reserve)"),
               Line2D([], [], color="#5d6d7e", label="route (straight lines between stops)")]
    figure.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8, frameon=False)
    return Chart("map", "Map of the day",
                 "Depots, communities coloured by risk level, and every route driven: straight lines from the "
                 "depot through the gates it served and back, not the streets.",
                 "Map of depots and communities coloured by risk level with the day's vehicle routes drawn as "
                 "lines, one panel per policy.",
                 _png_base64(figure))


def _frame(ax: Axes, points: np.ndarray) -> None:
    """The places' bounding box with a margin, at the local scale: a degree of longitude is
    cos(latitude) of a degree of latitude, so without this the city comes out stretched."""
    (south, west), (north, east) = points.min(axis=0), points.max(axis=0)
    pad = max(north - south, east - west, 0.01) * 0.06
    ax.set_xlim(west - pad, east + pad)
    ax.set_ylim(south - pad, north + pad)
    ax.set_aspect(1 / math.cos(math.radians(float(points[:, 0].mean()))), adjustable="box")


def _point(place: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        return float(place["lat"]), float(place["lon"])
    except (KeyError, TypeError, ValueError):
        return None


def _pair(value: Any) -> tuple[float, float] | None:
    try:
        lat, lon = value
        return float(lat), float(lon)
    except (TypeError, ValueError):
        return None


def _route_line(route: Mapping[str, Any], depot_at: Mapping[Any, tuple[float, float]]) -> list[tuple[float, float]]:
    """(lon, lat) vertices: the depot, the stops in order, the depot again (vehicles go back)."""
    stops = [(at[1], at[0]) for p in route.get("points") or () if (at := _pair(p)) is not None]
    depot = depot_at.get(route.get("depot_id"))
    if depot is None or not stops:
        return stops
    home = (depot[1], depot[0])
    return [home, *stops, home]
