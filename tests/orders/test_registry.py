"""Communities and households: who may register them, validation, and the events."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from shared.events import topics
from shared.settings import Settings
from tests.orders.conftest import COMMUNITY, Orders, read_topic
from tests.support import bearer, tokens


async def test_a_community_is_registered_once_then_updated_only_on_change(
    orders: Orders, settings: Settings
) -> None:
    client = orders.client
    created = await client.put("/v1/communities/C-9", json=COMMUNITY, headers=orders.admin)
    assert created.status_code == 201, created.text
    assert created.json()["receiving_windows"] == [["07:00", "09:00"], ["15:00", "17:00"]]
    same = await client.put("/v1/communities/C-9", json=COMMUNITY, headers=orders.admin)
    assert same.status_code == 200
    sealed_tighter = {**COMMUNITY, "risk_level": "controlled",
                      "receiving_windows": [["15:00", "16:00"], ["06:30", "08:00"]]}
    updated = await client.put("/v1/communities/C-9", json=sealed_tighter, headers=orders.admin)
    assert updated.status_code == 200
    assert updated.json()["receiving_windows"] == [["06:30", "08:00"], ["15:00", "16:00"]]

    # C-1 and C-2 from the fixture, then C-9 registered and updated once.
    events = await read_topic(settings, topics.COMMUNITIES.name, 4)
    mine = [e for e in events if e.subject == "C-9"]
    assert [e.type for e in mine] == ["lifeline.community.registered", "lifeline.community.updated"]
    assert mine[1].data["risk_level"] == "controlled"
    assert mine[1].data["receiving_windows"] == [["06:30", "08:00"], ["15:00", "16:00"]]

    listed = await client.get("/v1/communities", headers=orders.resident("H-A"))
    assert [c["id"] for c in listed.json()] == ["C-1", "C-2", "C-9"]
    sealed = await client.get("/v1/communities?risk_level=sealed", headers=orders.dispatcher)
    assert [c["id"] for c in sealed.json()] == ["C-1", "C-2"]
    one = await client.get("/v1/communities/C-9", headers=orders.worker("C-1"))
    assert one.json()["risk_level"] == "controlled"
    missing = await client.get("/v1/communities/C-404", headers=orders.admin)
    assert missing.status_code == 404


async def test_community_input_is_validated_field_by_field(orders: Orders) -> None:
    async def put(**changes: object) -> dict:
        response = await orders.client.put(
            "/v1/communities/C-8", json={**COMMUNITY, **changes}, headers=orders.admin
        )
        assert response.status_code == 422, response.text
        return response.json()["detail"]

    overlap = await put(receiving_windows=[["07:00", "09:00"], ["08:00", "10:00"]])
    assert overlap["code"] == "overlapping_windows" and overlap["field"] == "receiving_windows"
    backwards = await put(receiving_windows=[["09:00", "07:00"]])
    assert backwards["code"] == "invalid_window"
    bad_clock = await put(receiving_windows=[["7am", "09:00"]])
    assert bad_clock[0]["loc"][:2] == ["body", "receiving_windows"]
    assert (await put(receiving_windows=[]))[0]["loc"] == ["body", "receiving_windows"]
    assert (await put(risk_level="lockdown"))[0]["loc"] == ["body", "risk_level"]
    assert (await put(lat=91))[0]["loc"] == ["body", "lat"]
    assert (await put(gate_service_min=-1))[0]["loc"] == ["body", "gate_service_min"]
    assert (await put(colour="red"))[0]["loc"] == ["body", "colour"]
    bad_id = await orders.client.put("/v1/communities/bad id!", json=COMMUNITY, headers=orders.admin)
    assert bad_id.status_code == 422
    got = await orders.client.get("/v1/communities/C-8", headers=orders.admin)
    assert got.status_code == 404, "nothing half-written"


async def test_only_admins_register_communities(orders: Orders) -> None:
    client = orders.client
    assert (await client.put("/v1/communities/C-7", json=COMMUNITY)).status_code == 401
    bad = {"Authorization": "Bearer not-a-jwt"}
    assert (await client.put("/v1/communities/C-7", json=COMMUNITY, headers=bad)).status_code == 401
    for headers in (orders.worker("C-7"), orders.resident("H-A"), orders.dispatcher):
        response = await client.put("/v1/communities/C-7", json=COMMUNITY, headers=headers)
        assert response.status_code == 403


async def test_households_are_registered_by_admins_and_their_community_workers(
    orders: Orders,
) -> None:
    client = orders.client
    body = {"community_id": "C-1", "members": 1, "flags": ["elderly_alone", "disabled"]}
    created = await client.put("/v1/households/H-NEW", json=body, headers=orders.worker("C-1"))
    assert created.status_code == 201, created.text
    assert sorted(created.json()["flags"]) == ["disabled", "elderly_alone"]
    again = await client.put("/v1/households/H-NEW", json={**body, "members": 2},
                             headers=orders.worker("C-1"))
    assert again.status_code == 200 and again.json()["members"] == 2

    # A worker of C-2 can neither register in C-1 nor take a C-1 household into C-2.
    outside = await client.put("/v1/households/H-Y", json=body, headers=orders.worker("C-2"))
    assert outside.status_code == 403
    moved = {**body, "community_id": "C-2"}
    steal = await client.put("/v1/households/H-NEW", json=moved, headers=orders.worker("C-2"))
    assert steal.status_code == 403
    assert (await client.put("/v1/households/H-Z", json=body,
                             headers=orders.resident("H-Z"))).status_code == 403

    unknown = await client.put("/v1/households/H-Q", json={**body, "community_id": "C-404"},
                               headers=orders.admin)
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "community_id"
    for bad in ({"members": 0}, {"members": "2"}, {"flags": ["rich"]}, {"pets": 1}):
        response = await client.put("/v1/households/H-Q", json={**body, **bad}, headers=orders.admin)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][1] == next(iter(bad))

    # Reading: the resident himself, the community's workers, admins; others see nothing.
    assert (await client.get("/v1/households/H-NEW", headers=orders.resident("H-NEW"))).status_code == 200
    assert (await client.get("/v1/households/H-NEW", headers=orders.worker("C-1"))).status_code == 200
    assert (await client.get("/v1/households/H-NEW", headers=orders.admin)).status_code == 200
    assert (await client.get("/v1/households/H-NEW", headers=orders.resident("H-A"))).status_code == 404
    assert (await client.get("/v1/households/H-NEW", headers=orders.worker("C-2"))).status_code == 404
    assert (await client.get("/v1/households/H-NEW", headers=orders.dispatcher)).status_code == 403


async def test_an_expired_token_is_refused_even_after_it_was_accepted(orders: Orders) -> None:
    token = tokens(orders.settings).mint("H-A", "resident", ttl_s=2)
    assert (await orders.client.get("/v1/orders", headers=bearer(token))).status_code == 200
    await asyncio.sleep(3.1)
    assert (await orders.client.get("/v1/orders", headers=bearer(token))).status_code == 401
    forged = tokens(orders.settings.model_copy(
        update={"jwt_secret": SecretStr("another-secret-another-secret-another-secret")}
    )).mint("H-A", "resident")
    assert (await orders.client.get("/v1/orders", headers=bearer(forged))).status_code == 401
