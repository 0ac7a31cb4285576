"""Client for an OSRM-compatible ``/table/v1/driving/`` service (road travel matrices)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import httpx
import numpy as np

from .matrix import DEFAULT_DETOUR_FACTOR, DEFAULT_SPEED_KMH, haversine_matrix
from .travel import Location, TravelMatrix

log = logging.getLogger(__name__)


class OsrmError(RuntimeError):
    """The table service is down, answered with an error, or left pairs unroutable."""


class OsrmTableProvider:
    """Builds a :class:`TravelMatrix` from an OSRM table service.

    * Large matrices are fetched in ``chunk`` x ``chunk`` blocks (OSRM limits the
      number of coordinates per request, 100 by default ``--max-table-size``).
    * Results are cached per location list (LRU of ``cache_size`` matrices):
      the same depots and communities are planned many times a day.
    * When the service is unreachable or fails, :class:`OsrmError` is raised -
      unless ``fallback_to_haversine`` is set, in which case the straight-line
      estimate is used and a warning is logged.  Pairs OSRM cannot route
      (``null``) are handled the same way.
    """

    def __init__(
        self,
        base_url: str,
        *,
        profile: str = "driving",
        chunk: int = 100,
        timeout_s: float = 10.0,
        cache_size: int = 16,
        fallback_to_haversine: bool = False,
        detour_factor: float = DEFAULT_DETOUR_FACTOR,
        speed_kmh: float = DEFAULT_SPEED_KMH,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url: must not be empty")
        if chunk < 2:
            raise ValueError("chunk: must be >= 2")
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.chunk = chunk
        self.fallback_to_haversine = fallback_to_haversine
        self.detour_factor = detour_factor
        self.speed_kmh = speed_kmh
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._cache: OrderedDict[tuple[tuple[float, float], ...], TravelMatrix] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.requests = 0  # for tests and metrics

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OsrmTableProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, locations: Sequence[Location]) -> TravelMatrix:
        return self.matrix(locations)

    def matrix(self, locations: Sequence[Location]) -> TravelMatrix:
        key = tuple((round(loc.lat, 6), round(loc.lon, 6)) for loc in locations)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            result = self._fetch(locations)
        except OsrmError as e:
            if not self.fallback_to_haversine:
                raise
            log.warning("OSRM unavailable (%s); using haversine estimates", e)
            return haversine_matrix(locations, detour_factor=self.detour_factor, speed_kmh=self.speed_kmh)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result

    def _fetch(self, locations: Sequence[Location]) -> TravelMatrix:
        n = len(locations)
        dur = np.full((n, n), np.nan)
        dist = np.full((n, n), np.nan)
        # Blocks of half a chunk each side so a request never exceeds `chunk` coordinates.
        step = max(1, self.chunk // 2) if n > self.chunk else n
        for i0 in range(0, n, step):
            src = list(range(i0, min(n, i0 + step)))
            for j0 in range(0, n, step):
                dst = list(range(j0, min(n, j0 + step)))
                d, m = self._block(locations, src, dst)
                dur[np.ix_(src, dst)] = d
                dist[np.ix_(src, dst)] = m
        missing = np.isnan(dur) | np.isnan(dist)
        np.fill_diagonal(missing, False)
        if missing.any():
            i, j = map(int, np.argwhere(missing)[0])
            if not self.fallback_to_haversine:
                raise OsrmError(f"no road route between locations {i} and {j} ({int(missing.sum())} pairs unroutable)")
            est = haversine_matrix(locations, detour_factor=self.detour_factor, speed_kmh=self.speed_kmh)
            dur[missing] = est.duration_s[missing]
            dist[missing] = est.distance_m[missing]
        np.fill_diagonal(dur, 0)
        np.fill_diagonal(dist, 0)
        return TravelMatrix(np.rint(dist).astype(np.int64), np.rint(dur).astype(np.int64))

    def _block(self, locations: Sequence[Location], src: list[int], dst: list[int]) -> tuple[np.ndarray, np.ndarray]:
        idx = sorted(set(src) | set(dst))
        pos = {k: p for p, k in enumerate(idx)}
        coords = ";".join(f"{locations[k].lon:.6f},{locations[k].lat:.6f}" for k in idx)
        url = f"{self.base_url}/table/v1/{self.profile}/{coords}"
        params = {
            "sources": ";".join(str(pos[k]) for k in src),
            "destinations": ";".join(str(pos[k]) for k in dst),
            "annotations": "duration,distance",
        }
        self.requests += 1
        try:
            resp = self._client.get(url, params=params)
        except httpx.HTTPError as e:
            raise OsrmError(f"OSRM table service at {self.base_url} is unreachable: {e}") from e
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or body.get("code") != "Ok":
            msg = body.get("message") or body.get("code") or resp.text[:200]
            raise OsrmError(f"OSRM table service at {self.base_url} answered {resp.status_code}: {msg}")
        if "durations" not in body or "distances" not in body:
            raise OsrmError("OSRM answer lacks durations/distances (is annotations=duration,distance supported?)")
        d = np.array([[np.nan if x is None else x for x in row] for row in body["durations"]], dtype=float)
        m = np.array([[np.nan if x is None else x for x in row] for row in body["distances"]], dtype=float)
        if d.shape != (len(src), len(dst)) or m.shape != (len(src), len(dst)):
            raise OsrmError(f"OSRM answer has shape {d.shape}, expected {(len(src), len(dst))}")
        return d, m
