"""Depots and SKUs over HTTP: validation, roles, and the catalog events they publish."""

from __future__ import annotations

from shared.events import topics
from shared.settings import Settings
from tests.inventory.helpers import DEPOTS, SKUS, admin, events_of, read_topic, wms
from tests.support import bearer, running_service, tokens


async def test_catalog_puts_validate_and_publish_definitions(settings: Settings) -> None:
    async with running_service("inventory", settings) as (_app, client):
        headers = admin(settings)
        created = await client.put("/v1/depots/CS-E1", json=DEPOTS["CS-E1"], headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["community_ids"] == ["C-E1"]
        same = await client.put("/v1/depots/CS-E1", json=DEPOTS["CS-E1"], headers=headers)
        assert same.status_code == 200
        moved = await client.put(
            "/v1/depots/CS-E1", json={**DEPOTS["CS-E1"], "cold_storage": True}, headers=headers
        )
        assert moved.status_code == 200 and moved.json()["cold_storage"] is True
        sku = await client.put("/v1/skus/RICE-5KG", json=SKUS["RICE-5KG"], headers=headers)
        assert sku.status_code == 201, sku.text
        assert sku.json()["ration"] == {"quantity": 2, "per_days": 7}
        assert sku.json()["urgent"] is False

        listed = await client.get("/v1/depots", headers=bearer(tokens(settings).mint("d", "dispatcher")))
        assert [d["id"] for d in listed.json()] == ["CS-E1"]
        skus = await client.get("/v1/skus?category=staple", headers=headers)
        assert [s["id"] for s in skus.json()] == ["RICE-5KG"]

        records = await read_topic(settings, topics.CATALOG.name, lambda r: len(r) >= 3)
        await_more = await read_topic(settings, topics.CATALOG.name, lambda r: len(r) >= 3, timeout_s=1.5)
        assert len(await_more) == 3, "an unchanged PUT publishes nothing"
        depots = events_of(records, "lifeline.depot.defined")
        assert [e.data["cold_storage"] for e in depots] == [False, True]
        assert {r.key for r in records} == {b"depot:CS-E1", b"sku:RICE-5KG"}
        sku_event = events_of(records, "lifeline.sku.defined")[0]
        assert sku_event.data["category"] == "staple" and sku_event.data["cold_chain"] is False


async def test_bad_catalog_input_gets_a_4xx_naming_the_field(settings: Settings) -> None:
    async with running_service("inventory", settings) as (_app, client):
        headers = admin(settings)
        cases = [
            ("/v1/depots/DC-1", {**DEPOTS["DC-E1"], "tier": "regional"}, "tier"),
            ("/v1/depots/DC-1", {**DEPOTS["DC-E1"], "lat": 91}, "lat"),
            ("/v1/depots/DC-1", {k: v for k, v in DEPOTS["DC-E1"].items() if k != "name"}, "name"),
            ("/v1/depots/DC-1", {**DEPOTS["DC-E1"], "colour": "red"}, "colour"),
            ("/v1/skus/S-1", {**SKUS["RICE-5KG"], "category": "toys"}, "category"),
            ("/v1/skus/S-1", {**SKUS["RICE-5KG"], "unit_weight_kg": 0}, "unit_weight_kg"),
            ("/v1/skus/S-1", {**SKUS["RICE-5KG"], "ration": {"quantity": 0, "per_days": 7}}, "quantity"),
        ]
        for path, body, field in cases:
            response = await client.put(path, json=body, headers=headers)
            assert response.status_code == 422, (path, body, response.text)
            assert field in response.text
        stations_only = await client.put(
            "/v1/depots/DC-1", json={**DEPOTS["DC-E1"], "community_ids": ["C-1"]}, headers=headers
        )
        assert stations_only.status_code == 422
        assert stations_only.json()["detail"]["field"] == "community_ids"
        bad_id = await client.put("/v1/depots/DC:1", json=DEPOTS["DC-E1"], headers=headers)
        assert bad_id.status_code == 422
        assert (await client.get("/v1/depots", headers=headers)).json() == []


async def test_catalog_roles(settings: Settings) -> None:
    async with running_service("inventory", settings) as (_app, client):
        assert (await client.put("/v1/depots/DC-1", json=DEPOTS["DC-E1"])).status_code == 401
        bad = {"Authorization": "Bearer not-a-token"}
        assert (await client.get("/v1/depots", headers=bad)).status_code == 401
        for role_headers in (
            wms(settings, "DC-1"),
            bearer(tokens(settings).mint("H-1", "resident")),
            bearer(tokens(settings).mint("d", "dispatcher", depot_ids=["DC-1"])),
        ):
            response = await client.put("/v1/depots/DC-1", json=DEPOTS["DC-E1"], headers=role_headers)
            assert response.status_code == 403, response.text
            response = await client.put("/v1/skus/S-1", json=SKUS["OIL-1L"], headers=role_headers)
            assert response.status_code == 403
        health = await client.get("/healthz")
        assert health.status_code == 200
