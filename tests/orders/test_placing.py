"""Placing orders: validation, priority, rations (also concurrent), idempotency, rate."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.orders.domain.commands import PlaceOrder
from services.orders.domain.model import Line
from services.orders.service_layer import handlers
from shared.auth import Principal
from shared.errors import DomainError
from shared.events import topics
from shared.settings import Settings
from tests.orders.conftest import Orders, read_topic, start_orders
from tests.support import NEEDS_POSTGRES


async def test_a_resident_places_an_order_and_it_is_published(
    orders: Orders, settings: Settings
) -> None:
    response = await orders.order(
        orders.resident("H-A"), [("VEG-BOX", 2), ("MILK-1L", 1), ("VEG-BOX", 1)],
        note="leave at the gate", contactless=True,
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "placed" and order["priority"] == "standard"
    assert order["household_id"] == "H-A" and order["community_id"] == "C-1"
    # Duplicate lines are merged, first position kept.
    assert order["items"] == [{"sku": "VEG-BOX", "quantity": 3}, {"sku": "MILK-1L", "quantity": 1}]
    assert order["created_at"].endswith("Z") or "+00:00" in order["created_at"]
    [event] = await read_topic(settings, topics.ORDERS.name, 1)
    assert event.type == "lifeline.order.placed" and event.subject == order["id"]
    assert event.data["items"] == order["items"] and event.data["priority"] == "standard"
    assert event.data["household_id"] == "H-A"

    # The same resident naming his own household is fine; another household is refused.
    same = await orders.order(orders.resident("H-A"), household_id="H-A")
    assert same.status_code == 201
    other = await orders.order(orders.resident("H-A"), household_id="H-B")
    assert other.status_code == 422 and other.json()["detail"]["field"] == "household_id"


async def test_priority_comes_from_household_flags_and_item_categories(orders: Orders) -> None:
    async def priority(household: str, sku: str) -> str:
        response = await orders.order(orders.resident(household), [(sku, 1)])
        assert response.status_code == 201, response.text
        return str(response.json()["priority"])

    assert await priority("H-A", "INSULIN") == "standard"
    assert await priority("H-A", "NITRO") == "medical"
    assert await priority("H-V", "VEG-BOX") == "vulnerable"
    assert await priority("H-V", "INSULIN") == "medical"


async def test_every_invalid_order_is_a_422_naming_the_problem(orders: Orders) -> None:
    headers = orders.resident("H-A")

    async def refused(body: object, status: int = 422) -> object:
        response = await orders.client.post("/v1/orders", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        return response.json()["detail"]

    def loc(detail: object) -> list[object]:
        assert isinstance(detail, list)
        return list(detail[0]["loc"])

    line = {"sku": "VEG-BOX", "quantity": 1}
    assert loc(await refused({"items": []})) == ["body", "items"]
    assert loc(await refused({})) == ["body", "items"]
    assert loc(await refused({"items": [line] * 51})) == ["body", "items"]
    assert loc(await refused({"items": [{"sku": "VEG-BOX", "quantity": 0}]})) == [
        "body", "items", 0, "quantity"]
    assert loc(await refused({"items": [{"sku": "VEG-BOX", "quantity": -2}]}))[-1] == "quantity"
    assert loc(await refused({"items": [{"sku": "VEG-BOX", "quantity": 1.5}]}))[-1] == "quantity"
    assert loc(await refused({"items": [{"sku": "VEG-BOX", "quantity": "1"}]}))[-1] == "quantity"
    assert loc(await refused({"items": [{"sku": "VEG-BOX", "quantity": 101}]}))[-1] == "quantity"
    assert loc(await refused({"items": [{"sku": "VEG-BOX"}]}))[-1] == "quantity"
    assert loc(await refused({"items": [{"sku": "", "quantity": 1}]}))[-1] == "sku"
    assert loc(await refused({"items": [line], "tip": 5})) == ["body", "tip"]
    assert loc(await refused({"items": [line], "note": "x" * 501})) == ["body", "note"]
    merged_over = await refused({"items": [{"sku": "VEG-BOX", "quantity": 60}] * 2})
    assert merged_over["code"] == "quantity_too_large"  # type: ignore[index]
    unknown = await refused({"items": [line, {"sku": "CAVIAR", "quantity": 1}]})
    assert unknown["code"] == "unknown_sku" and unknown["skus"] == ["CAVIAR"]  # type: ignore[index]
    assert unknown["field"] == "items"  # type: ignore[index]
    not_json = await orders.client.post(
        "/v1/orders", content=b"{nope", headers={**headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    key = await orders.client.post("/v1/orders", json={"items": [line]},
                                   headers={**headers, "Idempotency-Key": "x" * 201})
    assert key.status_code == 422

    stranger = await orders.order(orders.resident("H-NOBODY"))
    assert stranger.status_code == 422
    assert stranger.json()["detail"]["code"] == "unknown_household"
    listed = await orders.client.get("/v1/orders", headers=headers)
    assert listed.json()["items"] == [], "nothing half-written"
    assert (await orders.order({})).status_code == 401
    assert (await orders.order(orders.dispatcher)).status_code == 403


async def test_workers_order_for_households_of_their_communities_only(orders: Orders) -> None:
    worker = orders.worker("C-1")
    placed = await orders.order(worker, household_id="H-V")
    assert placed.status_code == 201 and placed.json()["household_id"] == "H-V"
    assert placed.json()["priority"] == "vulnerable"
    outside = await orders.order(worker, household_id="H-X")
    assert outside.status_code == 403
    missing = await orders.order(worker)
    assert missing.status_code == 422 and missing.json()["detail"]["field"] == "household_id"
    unknown = await orders.order(worker, household_id="H-NOBODY")
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "household_id"


async def test_rations_hold_over_the_period_and_cancelled_orders_give_back(orders: Orders) -> None:
    headers = orders.resident("H-B")
    first = await orders.order(headers, [("RICE-5KG", 1)])
    assert first.status_code == 201
    breach = await orders.order(headers, [("VEG-BOX", 1), ("RICE-5KG", 2)])
    assert breach.status_code == 422
    assert breach.json()["detail"] == {
        "code": "ration_exceeded", "field": "items", "sku": "RICE-5KG", "limit": 2,
        "period_days": 7, "already_ordered": 1, "requested": 2, "remaining": 1,
        "message": breach.json()["detail"]["message"],
    }
    assert "RICE-5KG" in breach.json()["detail"]["message"]
    assert (await orders.order(headers, [("RICE-5KG", 1)])).status_code == 201
    assert (await orders.order(headers, [("RICE-5KG", 1)])).status_code == 422
    # Another household has its own ration.
    assert (await orders.order(orders.resident("H-A"), [("RICE-5KG", 2)])).status_code == 201
    cancelled = await orders.client.post(f"/v1/orders/{first.json()['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert (await orders.order(headers, [("RICE-5KG", 1)])).status_code == 201


async def test_concurrent_orders_cannot_together_exceed_a_ration(orders: Orders) -> None:
    for household in ("H-A", "H-B", "H-V"):
        headers = orders.resident(household)
        results = await asyncio.gather(
            *(orders.order(headers, [("RICE-5KG", 1)]) for _ in range(20))
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 201] + [422] * 18, [r.text for r in results]
        listed = await orders.client.get("/v1/orders", headers=headers)
        assert sum(o["items"][0]["quantity"] for o in listed.json()["items"]) == 2


async def test_idempotency_keys_replay_or_conflict_per_caller(orders: Orders) -> None:
    resident = {**orders.resident("H-A"), "Idempotency-Key": "k-1"}
    first = await orders.order(resident, [("VEG-BOX", 1)])
    assert first.status_code == 201
    again = await orders.order(resident, [("VEG-BOX", 1)])
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other_body = await orders.order(resident, [("VEG-BOX", 2)])
    assert other_body.status_code == 409
    assert other_body.json()["detail"]["code"] == "idempotency_key_reused"
    # The same key from another caller is another order.
    neighbour = await orders.order({**orders.resident("H-B"), "Idempotency-Key": "k-1"})
    assert neighbour.status_code == 201 and neighbour.json()["id"] != first.json()["id"]

    # Concurrent retries of one request make one order.
    racing = {**orders.resident("H-V"), "Idempotency-Key": "k-race"}
    results = await asyncio.gather(*(orders.order(racing, [("MILK-1L", 1)]) for _ in range(6)))
    assert sorted(r.status_code for r in results) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    listed = await orders.client.get("/v1/orders", headers=orders.resident("H-V"))
    assert len(listed.json()["items"]) == 1


async def test_placement_is_rate_limited_per_household(settings: Settings) -> None:
    limited = settings.model_copy(update={"order_rate_per_minute": 3})
    async with start_orders(limited) as orders:
        headers = orders.resident("H-A")
        keyed = {**headers, "Idempotency-Key": "weekly-veg"}
        assert (await orders.order(keyed)).status_code == 201
        for _ in range(2):
            assert (await orders.order(headers)).status_code == 201
        refused = await orders.order(headers)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"]["code"] == "rate_limited"
        # A replay is not a new order and is not limited; other households are not limited.
        assert (await orders.order(keyed)).status_code == 200
        assert (await orders.order(orders.resident("H-B"))).status_code == 201


async def test_one_idempotency_key_used_for_two_households_at_once(orders: Orders) -> None:
    # A worker's retry logic reusing a key across households: one order, one conflict,
    # even when both transactions pass the key check before either commits.
    worker = {**orders.worker("C-1"), "Idempotency-Key": "shared-key"}
    for _ in range(3):
        results = await asyncio.gather(
            orders.order(worker, household_id="H-A"), orders.order(worker, household_id="H-B")
        )
        assert sorted(r.status_code for r in results) in ([201, 409], [200, 409]), [
            r.text for r in results]
    listed = await orders.client.get("/v1/orders", headers=orders.worker("C-1"))
    assert len(listed.json()["items"]) == 1


@pytest.mark.parametrize("path", ["synchronous", "as the service runs it"])
async def test_one_batch_decides_each_order_against_the_ones_before_it(orders: Orders, path: str) -> None:
    """Orders that share a transaction (group commit) are checked as if placed one by one:
    the batch's own orders count towards rations and Idempotency-Keys, and a refused
    order writes nothing while the others commit. The service runs batches on PostgreSQL
    through its async connection (shared/pipelined.py), on SQLite synchronously."""
    runtime = orders.app.state.runtime
    resident = Principal(subject="H-A", role="resident")

    def command(lines: tuple[tuple[str, int], ...], key: str | None = None,
                household: str = "H-A") -> PlaceOrder:
        return PlaceOrder(
            caller="resident:H-A", household_id=household,
            lines=tuple(Line(sku, quantity) for sku, quantity in lines), contactless=True,
            note=None, idempotency_key=key, request_fingerprint=f"{household}{lines}",
        )

    batch = [
        (command((("RICE-5KG", 2),)), resident),                  # the whole weekly ration
        (command((("RICE-5KG", 1),)), resident),                  # over it: refused
        (command((("VEG-BOX", 1),), key="k"), resident),
        (command((("VEG-BOX", 1),), key="k"), resident),          # the same request again: replay
        (command((("VEG-BOX", 2),), key="k"), resident),          # the key with another body
        (command((("VEG-BOX", 1),), household="H-NONE"), resident),
    ]
    if path == "synchronous":
        outcomes = handlers.place_orders(batch, runtime.uow(), rate_per_minute=30)
    else:
        outcomes = await orders.app.state.order_placement(batch)

    placed, refused, keyed, replayed, reused, unknown = outcomes
    assert not isinstance(placed, Exception) and placed[1] is True
    assert isinstance(refused, DomainError) and refused.code == "ration_exceeded"
    assert refused.context["already_ordered"] == 2
    assert not isinstance(keyed, Exception) and not isinstance(replayed, Exception)
    assert replayed == (keyed[0], False)
    assert isinstance(reused, DomainError) and reused.code == "idempotency_key_reused"
    assert isinstance(unknown, DomainError) and unknown.code == "unknown_household"
    listed = await orders.client.get("/v1/orders", headers=orders.resident("H-A"))
    assert sorted(o["id"] for o in listed.json()["items"]) == sorted([placed[0].order.id, keyed[0].order.id])
    published = await read_topic(orders.settings, topics.ORDERS.name, expected=3, timeout_s=5)
    assert sorted(e.data["order_id"] for e in published) == sorted([placed[0].order.id, keyed[0].order.id])


@NEEDS_POSTGRES
async def test_intake_recovers_when_its_postgresql_connection_breaks(orders: Orders) -> None:
    """On PostgreSQL the intake keeps one async connection (shared/pipelined.py). When the
    server drops it (a restart, a proxy hang-up), the orders in flight are placed through
    the synchronous path and the next batch opens a new connection: nobody sees an error."""
    engine = orders.app.state.runtime.engine

    def intake_backends(terminate: bool = False) -> set[int]:
        query = "SELECT pid FROM pg_stat_activity WHERE application_name = 'lifeline-orders-intake'"
        if terminate:
            query = query.replace("SELECT pid", "SELECT pg_terminate_backend(pid)")
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text(query))}

    assert (await orders.order(orders.resident("H-A"), [("VEG-BOX", 1)])).status_code == 201
    before = intake_backends()
    assert before, "the intake placed its order on its own connection"
    intake_backends(terminate=True)
    for _ in range(3):
        assert (await orders.order(orders.resident("H-A"), [("VEG-BOX", 1)])).status_code == 201
    after = intake_backends()
    assert after and not after & before, "a new connection replaced the broken one"
    listed = await orders.client.get("/v1/orders", headers=orders.resident("H-A"))
    assert len(listed.json()["items"]) == 4
