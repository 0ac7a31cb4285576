"""A plan drawn as SVG, readable without a base map: depots, gates coloured by risk level,
one colour per vehicle with the stop order, and unassigned gates crossed out."""

from __future__ import annotations

import math
from html import escape
from typing import Any

RISK_COLOURS = {"sealed": "#d62728", "controlled": "#ff7f0e", "prevention": "#e5c100", "normal": "#2ca02c"}
VEHICLE_COLOURS = ["#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79",
                   "#637939", "#8c6d31", "#843c39", "#7b4173"]
WIDTH, HEIGHT, MARGIN, LEGEND = 900, 700, 40, 200


def render_plan_svg(plan: dict[str, Any], depots: list[dict[str, Any]]) -> str:
    points = [(d["lat"], d["lon"]) for d in depots]
    points += [(s["lat"], s["lon"]) for r in plan["routes"] for s in r["stops"]]
    points += [(u["lat"], u["lon"]) for u in plan["unassigned"]]
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
        f'<title>Plan {escape(plan["id"])} ({escape(plan["status"])})</title>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fbfbf8"/>',
    ]
    legend: list[tuple[str, str]] = []
    for index, route in enumerate(plan["routes"]):
        colour = VEHICLE_COLOURS[index % len(VEHICLE_COLOURS)]
        legend.append((colour, f'{route["vehicle_id"]}: {len(route["stops"])} stops, {route["distance_km"]} km'))
        home = depot_xy.get(route["depot_id"])
        trips: dict[int, list[tuple[float, float]]] = {}
        for stop in route["stops"]:
            trips.setdefault(stop["trip"], []).append(xy(stop["lat"], stop["lon"]))
        for path in trips.values():
            full = [home, *path, home] if home else path
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in full)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'stroke-opacity="0.8"/>')
        for number, stop in enumerate(route["stops"], start=1):
            x, y = xy(stop["lat"], stop["lon"])
            parts.append(f'<text x="{x + 7:.1f}" y="{y - 5:.1f}" fill="{colour}">{number}</text>')
    drawn: set[str] = set()
    for stop in (s for r in plan["routes"] for s in r["stops"]):
        if stop["community_id"] in drawn:
            continue
        drawn.add(stop["community_id"])
        x, y = xy(stop["lat"], stop["lon"])
        fill = RISK_COLOURS.get(stop["risk_level"], "#999")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{fill}" stroke="#333">'
                     f'<title>{escape(stop["community_name"])} ({escape(stop["risk_level"])})</title></circle>')
    for item in plan["unassigned"]:
        x, y = xy(item["lat"], item["lon"])
        parts.append(f'<g stroke="#000" stroke-width="2"><line x1="{x - 5:.1f}" y1="{y - 5:.1f}" '
                     f'x2="{x + 5:.1f}" y2="{y + 5:.1f}"/><line x1="{x - 5:.1f}" y1="{y + 5:.1f}" '
                     f'x2="{x + 5:.1f}" y2="{y - 5:.1f}"/><title>{escape(item["community_name"])}: '
                     f'{escape(item["reason_code"])}</title></g>')
    for depot_id, (x, y) in depot_xy.items():
        parts.append(f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="#222"/>'
                     f'<text x="{x + 9:.1f}" y="{y + 4:.1f}" font-weight="bold">{escape(depot_id)}</text>')
    lx = WIDTH - LEGEND + 10
    rows = [("#222", "depot"), *((c, f"gate: {k}") for k, c in RISK_COLOURS.items()),
            ("#000", "x  unassigned gate"), *legend]
    for row, (colour, label) in enumerate(rows):
        y = MARGIN + row * 16
        parts.append(f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 15}" y="{y}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
