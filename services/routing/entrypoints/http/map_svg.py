"""A plan drawn as SVG, readable without a base map: depots, gates coloured by risk level,
one colour per vehicle with the stop order, and unassigned gates crossed out.

Elements carry classes (``depot``, ``community risk-<level>``, ``route``, ``unassigned``)
and ``data-*`` ids so that scripts and tests can find them."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from services.routing.domain.plan_result import PlanResult

RISK_COLOURS = {"sealed": "#d62728", "controlled": "#ff7f0e", "prevention": "#e5c100", "normal": "#2ca02c"}
VEHICLE_COLOURS = ["#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79",
                   "#637939", "#8c6d31", "#843c39", "#7b4173"]
WIDTH, HEIGHT, MARGIN, LEGEND = 900, 700, 40, 200


def render_plan_svg(plan_id: str, status: str, result: PlanResult, depots: list[dict[str, Any]]) -> str:
    points = [(d["lat"], d["lon"]) for d in depots]
    points += [(s.lat, s.lon) for s in result.visits()]
    # An order of a community routing has not heard of yet has no place on the map.
    placed = [(u, u.lat, u.lon) for u in result.unassigned if u.lat is not None and u.lon is not None]
    points += [(lat, lon) for _u, lat, lon in placed]
    if not points:
        points = [(0.0, 0.0)]
    lat_min, lat_max = min(p[0] for p in points), max(p[0] for p in points)
    lon_min, lon_max = min(p[1] for p in points), max(p[1] for p in points)
    # Equirectangular with cos(lat) so that the picture is not stretched east-west.
    kx = math.cos(math.radians((lat_min + lat_max) / 2))
    span = max((lon_max - lon_min) * kx, lat_max - lat_min, 1e-6)
    scale = min(WIDTH - LEGEND - 2 * MARGIN, HEIGHT - 2 * MARGIN) / span

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return MARGIN + (lon - lon_min) * kx * scale, HEIGHT - MARGIN - (lat - lat_min) * scale

    depot_xy = {d["id"]: xy(d["lat"], d["lon"]) for d in depots}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<title>Plan {escape(plan_id)} ({escape(status)})</title>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fbfbf8"/>',
    ]
    legend: list[tuple[str, str]] = []
    for index, route in enumerate(result.routes):
        colour = VEHICLE_COLOURS[index % len(VEHICLE_COLOURS)]
        legend.append((colour, f"{route.vehicle_id}: {len(route.visits)} stops, {route.distance_km} km"))
        home = depot_xy.get(route.depot_id)
        trips: dict[int, list[tuple[float, float]]] = {}
        for stop in route.visits:
            trips.setdefault(stop.trip, []).append(xy(stop.lat, stop.lon))
        # One group per route; one polyline per trip (depot, its stops, back to the depot).
        parts.append(f'<g class="route" data-vehicle="{escape(route.vehicle_id)}" stroke="{colour}">'
                     f'<title>{escape(route.vehicle_id)}</title>')
        for trip, path in sorted(trips.items()):
            full = [home, *path, home] if home else path
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in full)
            parts.append(f'<polyline class="trip" data-trip="{trip}" points="{coords}" fill="none" '
                         f'stroke="{colour}" stroke-width="2" stroke-opacity="0.8"/>')
        # Stop numbers; stops at the same gate (ambient and cold) share one label: "2,3".
        numbers: dict[tuple[float, float], list[str]] = {}
        for number, stop in enumerate(route.visits, start=1):
            numbers.setdefault(xy(stop.lat, stop.lon), []).append(str(number))
        for (x, y), labels in numbers.items():
            parts.append(f'<text x="{x + 7:.1f}" y="{y - 5:.1f}" fill="{colour}" stroke="none">'
                         f'{",".join(labels)}</text>')
        parts.append("</g>")
    drawn: set[str] = set()
    for stop in result.visits():
        if stop.community_id in drawn:
            continue
        drawn.add(stop.community_id)
        x, y = xy(stop.lat, stop.lon)
        risk = stop.risk_level
        fill = RISK_COLOURS.get(risk, "#999")
        parts.append(f'<circle class="community risk-{escape(risk)}" data-community="{escape(stop.community_id)}" '
                     f'cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{fill}" stroke="#333">'
                     f'<title>{escape(stop.community_name)} ({escape(risk)})</title></circle>')
    for item, lat, lon in placed:
        x, y = xy(lat, lon)
        name = item.community_name or item.community_id
        parts.append(f'<g class="unassigned" data-community="{escape(item.community_id)}" '
                     f'data-reason="{escape(item.reason_code)}" stroke="#000" stroke-width="2">'
                     f'<line x1="{x - 5:.1f}" y1="{y - 5:.1f}" x2="{x + 5:.1f}" y2="{y + 5:.1f}"/>'
                     f'<line x1="{x - 5:.1f}" y1="{y + 5:.1f}" x2="{x + 5:.1f}" y2="{y - 5:.1f}"/>'
                     f'<title>{escape(name)}: {escape(item.reason_code)}</title></g>')
    for depot_id, (x, y) in depot_xy.items():
        parts.append(f'<g class="depot" data-depot="{escape(depot_id)}">'
                     f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="#222"/>'
                     f'<text x="{x + 9:.1f}" y="{y + 4:.1f}" font-weight="bold">{escape(depot_id)}</text></g>')
    lx = WIDTH - LEGEND + 10
    rows = [("#222", "depot"), *((c, f"gate: {k}") for k, c in RISK_COLOURS.items()),
            ("#000", "x  unassigned gate"), *legend]
    unplaced = sum(len(u.order_ids) for u in result.unassigned if u.lat is None or u.lon is None)
    if unplaced:
        rows.append(("#fff", f"{unplaced} order(s) of unknown communities, not drawn"))
    for row, (colour, label) in enumerate(rows):
        y = MARGIN + row * 16
        parts.append(f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 15}" y="{y}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
