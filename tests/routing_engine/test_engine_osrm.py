"""OSRM table client against a fake in-process server (httpx.MockTransport)."""

import httpx
import pytest

from services.routing.engine import Depot, Location, OsrmError, OsrmTableProvider, Problem, Stop, TimeWindow, Vehicle


def _fake(null_pair: tuple[int, int] | None = None):  # type: ignore[no-untyped-def]
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        coords = request.url.path.split("/table/v1/driving/")[1].split(";")
        lats = [float(c.split(",")[1]) for c in coords]
        src = [int(x) for x in request.url.params["sources"].split(";")]
        dst = [int(x) for x in request.url.params["destinations"].split(";")]
        assert len(coords) <= 4  # chunk limit respected

        # "Road" = 1000 m per 0.01 degree of latitude, 100 s per 0.01 degree.
        def cell(i: int, j: int, scale: float):  # type: ignore[no-untyped-def]
            key = (round(lats[i] * 100), round(lats[j] * 100))
            if null_pair is not None and key == null_pair:
                return None
            return abs(lats[i] - lats[j]) * 100 * scale

        return httpx.Response(
            200,
            json={
                "code": "Ok",
                "durations": [[cell(i, j, 100) for j in dst] for i in src],
                "distances": [[cell(i, j, 1000) for j in dst] for i in src],
            },
        )

    return handler, calls


LOCS = [Location(k / 100, 0.0) for k in range(7)]


def test_chunked_matrix_and_cache() -> None:
    handler, calls = _fake()
    osrm = OsrmTableProvider("http://osrm.local", chunk=4, transport=httpx.MockTransport(handler))
    m = osrm.matrix(LOCS)
    assert len(calls) > 1  # 7 locations, at most 4 per request
    assert m.duration_s[0, 6] == 600 and m.distance_m[6, 2] == 4000
    assert (m.duration_s.diagonal() == 0).all()
    n = len(calls)
    osrm.matrix(LOCS)
    assert len(calls) == n  # cached


def test_down_raises_clear_error_or_falls_back() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    osrm = OsrmTableProvider("http://osrm.local", transport=httpx.MockTransport(down))
    with pytest.raises(OsrmError, match="unreachable"):
        osrm.matrix(LOCS)
    fb = OsrmTableProvider("http://osrm.local", transport=httpx.MockTransport(down), fallback_to_haversine=True)
    assert fb.matrix(LOCS).distance_m[0, 1] > 0


def test_error_answer_and_unroutable_pair() -> None:
    bad = OsrmTableProvider(
        "http://osrm.local",
        transport=httpx.MockTransport(lambda r: httpx.Response(400, json={"code": "InvalidQuery", "message": "boom"})),
    )
    with pytest.raises(OsrmError, match="boom"):
        bad.matrix(LOCS)
    handler, _ = _fake(null_pair=(1, 3))
    osrm = OsrmTableProvider("http://osrm.local", chunk=4, transport=httpx.MockTransport(handler))
    with pytest.raises(OsrmError, match="no road route"):
        osrm.matrix(LOCS)


def test_problem_takes_a_provider() -> None:
    handler, calls = _fake()
    osrm = OsrmTableProvider("http://osrm.local", transport=httpx.MockTransport(handler))
    p = Problem(
        (Depot("D", LOCS[0]),),
        (Vehicle("V", "D", 100, 100),),
        (Stop("S", LOCS[3], "D", 1, 1, (TimeWindow(0, 86_000),)),),
        matrix=osrm,
    )
    assert p.travel.duration_s[0, 1] == 300 and len(calls) == 1
