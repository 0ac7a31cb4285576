"""The outcome report: one self-contained HTML page, its charts embedded as PNGs, from an
outcome as the simulator writes it (and from one that lacks whatever is optional)."""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.simulation import charts
from services.simulation.report import render_html, write_report

START = datetime(2026, 11, 20, tzinfo=ZoneInfo("Asia/Shanghai"))
RISK_LEVELS = ("sealed", "controlled", "prevention", "normal")
PNG = re.compile(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)' alt='([^']+)'>")


def _run(policy: str, rng: np.random.Generator, deliveries: int, communities: list[dict[str, Any]],
         depots: list[dict[str, Any]]) -> dict[str, Any]:
    """A run whose figures roughly agree with its deliveries; the baseline is slower."""
    slow = 1.0 if policy == "lifeline" else 2.5
    priorities = rng.choice(["medical", "vulnerable", "standard"], size=deliveries, p=[0.1, 0.3, 0.6])
    placed = rng.uniform(6, 22, size=deliveries)
    hours = rng.gamma(2.0, slow * np.where(priorities == "medical", 1.0, 2.5))
    rows = [{"order_id": f"O-{policy}-{i}", "priority": str(p), "community_id": communities[i % len(communities)]["id"],
             "placed_at": (START + timedelta(hours=float(t))).isoformat(),
             "delivered_at": (START + timedelta(hours=float(t + h))).isoformat(), "hours": round(float(h), 3)}
            for i, (p, t, h) in enumerate(zip(priorities, placed, hours, strict=True))]
    medical_share = round(float(np.mean(hours[priorities == "medical"] <= 6)), 4)
    fill = {c["id"]: round(float(rng.uniform(0.75, 1.0) / slow ** 0.2), 4) for c in communities}
    return {
        "policy": policy, "policy_description": f"{policy} policy <b>as described</b>",
        "wall_seconds": 512.3, "clock_speed": 240.0, "planner_time_limit_s": 2.0,
        "orders": {"placed": deliveries + 60, "delivered": deliveries, "failed_deliveries": 12, "rejected": 40,
                   "backordered_open": 5, "open": 3},
        "figures": {
            "medical_orders": int(np.sum(priorities == "medical")) + 3, "medical_within_6h_share": medical_share,
            "delivery_hours_by_priority": {
                p: {"count": int(np.sum(priorities == p)), "median": round(float(np.median(hours[priorities == p])), 2),
                    "p95": round(float(np.percentile(hours[priorities == p], 95)), 2)}
                for p in ("medical", "vulnerable", "standard")},
            "vulnerable_unserved_over_24h": 0 if policy == "lifeline" else 3,
            "fill_rate_by_community": fill,
            "fill_rate_worst_best_ratio": round(min(fill.values()) / max(fill.values()), 4),
            "orders_lost": 0, "orders_doubled": 0, "stock_conserved": True,
            "vehicle_km_per_tonne": 12.3 * slow, "vehicle_utilisation": 0.62, "vehicle_km": 1234.5,
            "tonnes_delivered": 100.2,
        },
        "targets": [
            {"figure": "medical_within_6h_share", "label": "medical orders delivered within 6 h", "target": ">= 99 %",
             "value": medical_share, "met": medical_share >= 0.99,
             "why": "fleet too small at DC-FT-1 in the evening peak"},
            {"figure": "vulnerable_unserved_over_24h", "label": "vulnerable households unserved > 24 h",
             "target": "0", "value": 0 if policy == "lifeline" else 3, "met": policy == "lifeline",
             "why": "first come, first served"},
            {"figure": "orders_lost", "label": "orders lost", "target": "0", "value": 0, "met": True},
        ],
        "deliveries": rows,
        "placed_by_hour": {p: [int(n) for n in rng.integers(0, 40, size=24)] for p in ("medical", "vulnerable",
                                                                                          "standard")},
        "communities": communities, "depots": depots,
        "routes": [{"vehicle_id": f"V-{v:02d}", "depot_id": depots[v % len(depots)]["id"],
                    "points": [[communities[i]["lat"], communities[i]["lon"]]
                               for i in rng.choice(len(communities), size=4, replace=False)]}
                   for v in range(20)],
        "events": [{"at": (START + timedelta(hours=14)).isoformat(), "what": "vehicle V-07 broke down"},
                   {"at": (START + timedelta(hours=16)).isoformat(), "what": "C-CY-03 upgraded to sealed"}],
        "notes": [f"{policy}: the evening peak was heavier than planned"],
    }


def sample_outcome(deliveries: int = 600, communities: int = 24, seed: int = 7) -> dict[str, Any]:
    """An outcome shaped like the simulator's: a day, Lifeline and the baseline."""
    rng = np.random.default_rng(seed)
    places = [{"id": f"C-CY-{i:02d}", "name": f"Chaoyang {i}", "lat": round(39.85 + rng.uniform(0, 0.15), 5),
               "lon": round(116.35 + rng.uniform(0, 0.2), 5), "risk_level": RISK_LEVELS[i % 4]}
              for i in range(1, communities + 1)]
    depots = [{"id": "CR-1", "lat": 39.83, "lon": 116.40, "tier": "city"},
              {"id": "DC-CY-1", "lat": 39.91, "lon": 116.45, "tier": "district"},
              {"id": "DC-CY-2", "lat": 39.93, "lon": 116.52, "tier": "district"}]
    return {
        "scenario": {"name": "lockdown-day", "description": "A day of lockdown in Chaoyang.", "days": 1, "seed": seed,
                     "scale": 1.0, "start": START.isoformat(), "timezone": "Asia/Shanghai"},
        "runs": {policy: _run(policy, rng, deliveries, places, depots) for policy in ("lifeline", "baseline")},
    }


@pytest.fixture(scope="module")
def outcome() -> dict[str, Any]:
    return sample_outcome()


@pytest.fixture(scope="module")
def page(outcome: dict[str, Any]) -> str:
    return render_html(outcome)


def _cell_after(page: str, label: str) -> str:
    """The rest of the headline table row whose first cell is ``label``."""
    row = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page)
    assert row, label
    return row.group(1)


def test_every_chart_is_an_embedded_png_with_alt_text_and_a_caption(page: str) -> None:
    images = PNG.findall(page)
    assert len(images) == 4
    for data, alt in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
        assert len(alt) > 20
    for key in ("hourly", "sla", "fill", "map"):
        assert f"id='chart-{key}'" in page
    assert page.count("<figcaption>") == 4


def test_the_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert "http://" not in page and "https://" not in page


def test_targets_show_met_and_missed_in_words_and_why_missed(page: str, outcome: dict[str, Any]) -> None:
    lifeline_share = outcome["runs"]["lifeline"]["figures"]["medical_within_6h_share"]
    assert lifeline_share < 0.99, "the sample misses the medical target"
    medical = _cell_after(page, "medical orders delivered within 6 h")
    assert "≥ 99 %" in medical
    assert medical.count("✗ missed") == 2
    vulnerable = _cell_after(page, "vulnerable households unserved &gt; 24 h")
    assert "✓ met" in vulnerable and "✗ missed" in vulnerable
    assert "fleet too small at DC-FT-1 in the evening peak" in page
    assert "first come, first served" in page


def test_the_headline_shows_differences_with_their_units(page: str, outcome: dict[str, Any]) -> None:
    runs = outcome["runs"]
    points = (runs["lifeline"]["figures"]["medical_within_6h_share"]
              - runs["baseline"]["figures"]["medical_within_6h_share"]) * 100
    assert f"<span class='better'>+{points:.1f} pts</span>" in _cell_after(page, "medical orders delivered within 6 h")
    vulnerable = _cell_after(page, "vulnerable households unserved &gt; 24 h")
    assert "<span class='better'>\u22123 households</span>" in vulnerable
    assert "same" in _cell_after(page, "orders lost")


def test_the_summary_says_it_in_plain_words(page: str, outcome: dict[str, Any]) -> None:
    summary = re.search(r"<p class='summary'>(.*?)</p>", page)
    assert summary
    share = outcome["runs"]["lifeline"]["figures"]["medical_within_6h_share"] * 100
    assert f"{share:.1f} % of medical orders arrived within 6 h (target ≥ 99 %, missed)" in summary.group(1)
    assert "Lifeline beat the baseline" in summary.group(1)
    assert "No vulnerable household waited more than 24 h (baseline: 3)" in summary.group(1)


def test_a_report_of_the_lifeline_run_alone_renders(outcome: dict[str, Any]) -> None:
    alone = {"scenario": outcome["scenario"], "runs": {"lifeline": outcome["runs"]["lifeline"]}}
    page = render_html(alone)
    assert len(PNG.findall(page)) == 4
    assert "Baseline" not in page and "difference" not in page
    assert "✗ missed" in page


def test_a_run_missing_every_optional_key_shows_dashes() -> None:
    page = render_html({"scenario": {"name": "empty"}, "runs": {"lifeline": {}, "baseline": {"orders": None}}})
    assert len(PNG.findall(page)) == 4
    assert "—" in _cell_after(page, "medical orders delivered within 6 h")
    assert "✓" not in page and "✗" not in page
    assert render_html({})  # not even a run


def test_malformed_parts_of_a_run_are_skipped_not_fatal() -> None:
    outcome = sample_outcome(deliveries=50, communities=4)
    run = outcome["runs"]["baseline"]
    run["deliveries"] += [None, {"priority": 3, "hours": None, "delivered_at": 17}, {}]
    run["routes"] += [{"depot_id": "nowhere", "points": [[1], "x", None]}, "not a route"]
    run["figures"]["fill_rate_by_community"]["C-CY-01"] = "n/a"
    run["figures"]["stock_conserved"] = None
    run["targets"].append({"figure": "medical_p95_hours", "label": "medical p95", "target": "<= 6 h", "value": 5.5,
                           "met": True})
    run["events"] = [{"at": "yesterday", "what": "something"}, "noise"]
    run["placed_by_hour"] = {"medical": [1, 2]}
    page = render_html(outcome)
    assert len(PNG.findall(page)) == 4
    assert "✓ met" in _cell_after(page, "medical p95")
    assert "≤ 6 h" in _cell_after(page, "medical p95")
    assert "<span class=''>—</span>" in _cell_after(page, "stock ledger balanced")


def test_names_and_free_text_are_escaped() -> None:
    hostile = "<script>alert('x')</script> & co"
    outcome = sample_outcome(deliveries=50, communities=4)
    outcome["scenario"]["name"] = hostile
    run = outcome["runs"]["lifeline"]
    run["targets"][0]["why"] = hostile
    run["events"][0]["what"] = hostile
    run["notes"] = [hostile]
    run["communities"][0]["name"] = hostile
    page = render_html(outcome)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "<b>as described</b>" not in page


def test_hours_of_day_are_read_in_the_scenario_timezone() -> None:
    deliveries: list[dict[str, Any]] = [
                  {"priority": "medical", "hours": 1.0, "delivered_at": "2026-11-20T02:30:00+00:00"},
                  {"priority": "standard", "hours": 2.0, "delivered_at": "2026-11-20T23:59:00+08:00"},
                  {"priority": "vulnerable", "delivered_at": "2026-11-20T16:10:00+00:00",
                   "placed_at": "2026-11-20T15:40:00+00:00"},
                  {"priority": "courier", "hours": "?", "delivered_at": "not a time"}]
    arrays = charts.delivery_arrays(deliveries, ZoneInfo("Asia/Shanghai"))
    assert arrays.local_hour.tolist() == [10, 23, 0, -1]
    assert arrays.priority.tolist() == ["medical", "standard", "vulnerable", "other"]
    assert arrays.hours[:3].tolist() == [1.0, 2.0, 0.5]
    assert np.isnan(arrays.hours[3])


def test_write_report_writes_the_outcome_and_the_page(tmp_path: Path, outcome: dict[str, Any]) -> None:
    small = copy.deepcopy(outcome)
    json_path, html_path = write_report(small, tmp_path / "out", stem="lockdown-day")
    assert (json_path.name, html_path.name) == ("lockdown-day.json", "lockdown-day.html")
    assert json.loads(json_path.read_text(encoding="utf-8")) == small
    assert html_path.read_text(encoding="utf-8") == render_html(small)
