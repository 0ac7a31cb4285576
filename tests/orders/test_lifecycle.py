"""An order's life driven by the other services' real events on the topics, including
duplicates and events that arrive out of order; cancelling; who sees which orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.events import topics
from shared.events.payloads import (
    OrderBackordered,
    OrderDelivered,
    OrderDeliveryFailed,
    OrderLine,
    OrderScheduled,
    ReservationRejected,
    ReservationReleased,
    StockReserved,
)
from shared.settings import Settings
from tests.orders.conftest import Orders, read_topic
from tests.support import eventually

NOW = datetime.now(UTC).replace(microsecond=0)


def reserved(order_id: str, depot: str = "DC-1") -> StockReserved:
    return StockReserved(order_id=order_id, depot_id=depot, community_id="C-1",
                         priority="standard", lines=[OrderLine(sku="VEG-BOX", quantity=1)],
                         placed_at=NOW)


def scheduled(order_id: str, plan: str = "P-1", vehicle: str = "V-1") -> OrderScheduled:
    return OrderScheduled(order_id=order_id, plan_id=plan, depot_id="DC-1", vehicle_id=vehicle,
                          stop_id="S-1", eta=NOW + timedelta(hours=2),
                          window_start=NOW + timedelta(hours=1),
                          window_end=NOW + timedelta(hours=3))


def delivered(order_id: str, plan: str = "P-1") -> OrderDelivered:
    return OrderDelivered(order_id=order_id, plan_id=plan, stop_id="S-1",
                          delivered_at=NOW + timedelta(hours=2), received_by="gate staff Wang")


def failed(order_id: str, plan: str = "P-1") -> OrderDeliveryFailed:
    return OrderDeliveryFailed(order_id=order_id, plan_id=plan, stop_id="S-1",
                               failed_at=NOW + timedelta(hours=2), reason="gate closed")


async def place(orders: Orders, household: str = "H-A") -> str:
    response = await orders.order(orders.resident(household))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_the_whole_life_of_an_order(orders: Orders) -> None:
    order_id = await place(orders)
    first_reservation = (await orders.play(reserved(order_id)))[0]
    body = await orders.wait_status(order_id, "reserved")
    assert body["depot_id"] == "DC-1" and body["schedule"] is None

    await orders.play(scheduled(order_id))
    body = await orders.wait_status(order_id, "scheduled")
    assert body["schedule"]["vehicle_id"] == "V-1" and body["schedule"]["plan_id"] == "P-1"
    assert datetime.fromisoformat(body["schedule"]["eta"]) == NOW + timedelta(hours=2)
    assert datetime.fromisoformat(body["schedule"]["window_start"]) == NOW + timedelta(hours=1)

    # Once dispatched, the order can no longer be cancelled.
    refused = await orders.client.post(f"/v1/orders/{order_id}/cancel",
                                       headers=orders.resident("H-A"))
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "not_cancellable"
    assert "dispatched" in refused.json()["detail"]["message"]

    # The same reservation event again, and a late copy with a new id: nothing moves.
    await orders.replay(first_reservation, topics.RESERVATIONS.name)
    await orders.play_and_settle(reserved(order_id, depot="DC-2"))
    assert await orders.status_of(order_id) == "scheduled"

    await orders.play(delivered(order_id))
    body = await orders.wait_status(order_id, "delivered")
    assert body["received_by"] == "gate staff Wang"
    await orders.play_and_settle(scheduled(order_id, plan="P-2"), failed(order_id))
    body = await orders.wait_status(order_id, "delivered")
    assert body["depot_id"] == "DC-1", "the duplicate from DC-2 changed nothing"
    assert [entry["status"] for entry in body["timeline"]] == [
        "placed", "reserved", "scheduled", "delivered",
    ]
    assert body["timeline"][1]["detail"] == {"depot_id": "DC-1"}
    assert body["timeline"][2]["detail"]["vehicle_id"] == "V-1"


async def test_backorders_rejections_and_failed_deliveries(orders: Orders) -> None:
    waiting = await place(orders)
    await orders.play(OrderBackordered(order_id=waiting, reason="no rice in the district"))
    body = await orders.wait_status(waiting, "backordered")
    assert body["status_reason"] == "no rice in the district"
    await orders.play(reserved(waiting))
    await orders.wait_status(waiting, "reserved")

    hopeless = await place(orders, "H-B")
    await orders.play(ReservationRejected(order_id=hopeless, reason_code="sku_withdrawn",
                                          reason="withdrawn from the catalog"))
    body = await orders.wait_status(hopeless, "rejected")
    assert body["timeline"][-1]["detail"]["reason_code"] == "sku_withdrawn"
    await orders.play_and_settle(reserved(hopeless))
    assert await orders.status_of(hopeless) == "rejected"

    # A failed delivery returns the order for re-planning; its plan stays closed.
    await orders.play(scheduled(waiting, plan="P-1"))
    await orders.wait_status(waiting, "scheduled")
    await orders.play(failed(waiting, plan="P-1"))

    async def back_in_demand() -> dict | None:
        response = await orders.client.get(f"/v1/orders/{waiting}", headers=orders.admin)
        body = response.json()
        return body if body["timeline"][-1]["status"] == "reserved" and len(body["timeline"]) > 4 else None

    body = await eventually(back_in_demand, message="re-planned")
    assert body["status"] == "reserved" and body["schedule"] is None
    assert body["status_reason"] == "gate closed"
    assert [e["status"] for e in body["timeline"]][-3:] == ["scheduled", "delivery_failed", "reserved"]
    await orders.play_and_settle(scheduled(waiting, plan="P-1"), failed(waiting, plan="P-1"))
    assert await orders.status_of(waiting) == "reserved"
    await orders.play(scheduled(waiting, plan="P-2", vehicle="V-7"))
    body = await orders.wait_status(waiting, "scheduled")
    assert body["schedule"]["vehicle_id"] == "V-7"
    await orders.play(delivered(waiting, plan="P-2"))
    await orders.wait_status(waiting, "delivered")


async def test_events_that_overtake_each_other(orders: Orders) -> None:
    order_id = await place(orders)
    # Routes overtook reservations: scheduled arrives first, the reservation later.
    await orders.play(scheduled(order_id))
    body = await orders.wait_status(order_id, "scheduled")
    assert body["depot_id"] == "DC-1"
    await orders.play_and_settle(reserved(order_id), OrderBackordered(order_id=order_id, reason="late"))
    assert await orders.status_of(order_id) == "scheduled"

    # Delivery overtook the schedule.
    other = await place(orders, "H-B")
    await orders.play(reserved(other))
    await orders.wait_status(other, "reserved")
    await orders.play(delivered(other))
    await orders.wait_status(other, "delivered")
    await orders.play_and_settle(scheduled(other))
    assert await orders.status_of(other) == "delivered"


async def test_cancel_before_dispatch_publishes_once_and_ignores_late_events(
    orders: Orders, settings: Settings
) -> None:
    headers = orders.resident("H-A")
    placed = await place(orders)
    cancelled = await orders.client.post(f"/v1/orders/{placed}/cancel", headers=headers,
                                         json={"reason": "neighbour brought rice"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["timeline"][-1]["detail"]["reason"] == "neighbour brought rice"
    again = await orders.client.post(f"/v1/orders/{placed}/cancel", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"

    reserved_first = await place(orders)
    await orders.play(reserved(reserved_first))
    await orders.wait_status(reserved_first, "reserved")
    by_worker = await orders.client.post(f"/v1/orders/{reserved_first}/cancel",
                                         headers=orders.worker("C-1"))
    assert by_worker.status_code == 200

    # Inventory saw the cancel after it reserved: a late reservation and the release.
    await orders.play_and_settle(
        reserved(placed),
        ReservationReleased(order_id=placed, depot_id="DC-1", reason="order cancelled"),
    )
    response = await orders.client.get(f"/v1/orders/{placed}", headers=headers)
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["timeline"][-1]["detail"]["note"] == "reservation released"

    events = await read_topic(settings, topics.ORDERS.name, 4)
    cancels = [e for e in events if e.type == "lifeline.order.cancelled"]
    assert sorted(str(e.subject) for e in cancels) == sorted([placed, reserved_first])
    assert next(e for e in cancels if e.subject == placed).data["reason"] == "neighbour brought rice"


async def test_no_one_sees_or_cancels_another_households_orders(orders: Orders) -> None:
    mine = await place(orders, "H-A")
    theirs = await place(orders, "H-X")  # community C-2
    client = orders.client
    b = orders.resident("H-B")
    assert (await client.get(f"/v1/orders/{mine}", headers=b)).status_code == 404
    assert (await client.post(f"/v1/orders/{mine}/cancel", headers=b)).status_code == 404
    assert (await client.get("/v1/orders", headers=b)).json() == {"items": [], "next_cursor": None}
    missing = "O-" + "0" * 26
    assert (await client.get(f"/v1/orders/{missing}", headers=b)).status_code == 404
    assert (await client.get("/v1/orders/not-an-id", headers=b)).status_code == 422

    worker = orders.worker("C-1")
    assert (await client.get(f"/v1/orders/{mine}", headers=worker)).status_code == 200
    assert (await client.get(f"/v1/orders/{theirs}", headers=worker)).status_code == 404
    assert (await client.post(f"/v1/orders/{theirs}/cancel", headers=worker)).status_code == 404
    listed = (await client.get("/v1/orders", headers=worker)).json()["items"]
    assert [o["id"] for o in listed] == [mine]

    assert (await client.get(f"/v1/orders/{theirs}", headers=orders.dispatcher)).status_code == 200
    assert (await client.post(f"/v1/orders/{theirs}/cancel",
                              headers=orders.dispatcher)).status_code == 403
    everything = (await client.get("/v1/orders", headers=orders.admin)).json()["items"]
    assert [o["id"] for o in everything] == [theirs, mine]
    assert (await client.get("/v1/orders")).status_code == 401


async def test_listing_pages_newest_first_and_filters_by_status(orders: Orders) -> None:
    ids = [await place(orders, "H-V") for _ in range(5)]
    await orders.play(reserved(ids[1]))
    await orders.wait_status(ids[1], "reserved")
    headers = orders.resident("H-V")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await orders.client.get("/v1/orders", params=params, headers=headers)).json()
        seen += [o["id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)) and pages == 3
    filtered = await orders.client.get("/v1/orders?status=reserved", headers=headers)
    assert [o["id"] for o in filtered.json()["items"]] == [ids[1]]
    for bad in ("status=lost", "limit=0", "limit=1000", "cursor=%%%"):
        response = await orders.client.get(f"/v1/orders?{bad}", headers=headers)
        assert response.status_code == 422, bad


async def test_an_event_for_an_unknown_order_goes_to_the_dead_letter_topic(
    orders: Orders, settings: Settings
) -> None:
    await orders.play(reserved("O-" + "Z" * 26))
    [dead] = await read_topic(settings, f"{topics.RESERVATIONS.name}.dlq", 1)
    assert dead.data["order_id"] == "O-" + "Z" * 26
    order_id = await place(orders)
    await orders.play(reserved(order_id))
    await orders.wait_status(order_id, "reserved")
