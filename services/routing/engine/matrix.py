"""Straight-line travel matrices (the default when no road router is configured)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .travel import Location, TravelMatrix

EARTH_RADIUS_M = 6_371_000.0
#: Road distance / great-circle distance; ~1.3 is the usual figure for city grids.
DEFAULT_DETOUR_FACTOR = 1.3
#: Average speed of a delivery van in a locked-down city (little traffic, checkpoints).
DEFAULT_SPEED_KMH = 30.0


def haversine_matrix(
    locations: Sequence[Location],
    *,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    speed_kmh: float = DEFAULT_SPEED_KMH,
) -> TravelMatrix:
    """Road distance ~ great-circle distance x detour factor; duration = distance / speed.

    Values are rounded to whole metres / seconds (rounded, not truncated, so that
    a triangle of short legs does not systematically undercount).
    """
    if detour_factor < 1.0:
        raise ValueError(f"detour_factor: must be >= 1, got {detour_factor}")
    if speed_kmh <= 0:
        raise ValueError(f"speed_kmh: must be > 0, got {speed_kmh}")
    if not locations:
        empty = np.zeros((0, 0), dtype=np.int64)
        return TravelMatrix(empty, empty)
    lat = np.radians(np.array([loc.lat for loc in locations], dtype=np.float64))
    lon = np.radians(np.array([loc.lon for loc in locations], dtype=np.float64))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * detour_factor
    seconds = metres / (speed_kmh / 3.6)
    return TravelMatrix(np.rint(metres).astype(np.int64), np.rint(seconds).astype(np.int64))
