"""``POST /v1/solve``: the engine on its own, over HTTP."""

from __future__ import annotations

import copy
from typing import Any

from services.routing.entrypoints.http.solve import MAX_STOPS
from shared.settings import Settings
from tests.support import bearer, running_service, tokens


def _example(openapi: dict[str, Any]) -> dict[str, Any]:
    body = openapi["paths"]["/v1/solve"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    examples = openapi["components"]["schemas"][name]["examples"]
    assert examples, "the request schema documents an example"
    example: dict[str, Any] = examples[0]
    return example


async def test_solve_answers_the_documented_example_and_refuses_bad_problems(settings: Settings) -> None:
    async with running_service("routing", settings) as (_app, client):
        headers = bearer(tokens(settings).mint("disp-1", "dispatcher", depot_ids=["DC-CY-1"]))
        openapi = (await client.get("/openapi.json")).json()
        example = _example(openapi)

        response = await client.post("/v1/solve", json=example, headers=headers)
        assert response.status_code == 200, response.text
        solution = response.json()
        assert solution["feasible"] is True and solution["unassigned"] == []
        served = {o for r in solution["routes"] for v in r["visits"] for o in v["order_ids"]}
        assert served == {o for s in example["problem"]["stops"] for o in s["order_ids"]}
        assert (await client.post("/v1/solve", json=example)).status_code == 401

        # More stops than one request may carry: 413, before any solving.
        big = copy.deepcopy(example)
        stop = big["problem"]["stops"][0]
        big["problem"]["stops"] = [{**stop, "id": f"S-{i}", "order_ids": [f"O-{i}"]} for i in range(MAX_STOPS + 1)]
        response = await client.post("/v1/solve", json=big, headers=headers)
        assert response.status_code == 413, response.text
        assert response.json()["detail"]["code"] == "problem_too_large"

        # A malformed problem: 422 naming the field's path.
        broken = copy.deepcopy(example)
        del broken["problem"]["stops"][1]["windows"][0]["end_s"]
        response = await client.post("/v1/solve", json=broken, headers=headers)
        assert response.status_code == 422, response.text
        locations = [error["loc"] for error in response.json()["detail"]]
        assert ["body", "problem", "stops", 1, "windows", 0, "end_s"] in locations

        # Well-formed but inconsistent (a window that ends before it starts): 422 with the path too.
        backwards = copy.deepcopy(example)
        backwards["problem"]["stops"][0]["windows"][0] = {"start_s": 32400, "end_s": 25200}
        response = await client.post("/v1/solve", json=backwards, headers=headers)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail["code"] == "invalid_problem" and detail["message"].startswith("problem.stops[0].windows[0]")
