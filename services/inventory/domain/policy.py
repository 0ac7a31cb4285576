"""Which depots may serve an order, best first (SPEC section 5, flow 2).

community station serving the order's community → its home district centre (the nearest
district-tier depot in its district) → other district centres by distance → city reserve
(nearest first). Orders with a cold-chain line only go to depots with cold storage.
The caller tries the candidates in this order and reserves every line at the first one
that holds all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.inventory.domain.model import Community, Depot, Tier, haversine_km


def candidate_depots(
    community_id: str,
    community: Community | None,
    depots: Iterable[Depot],
    *,
    needs_cold_chain: bool,
) -> list[Depot]:
    eligible = [d for d in depots if d.cold_storage or not needs_cold_chain]

    def distance(depot: Depot) -> float:
        if community is None:
            # Without the community's location (its registration not consumed yet) we
            # still serve it: a stable order by id beats refusing the order.
            return 0.0
        return haversine_km(community.lat, community.lon, depot.lat, depot.lon)

    def by_distance(group: list[Depot]) -> list[Depot]:
        return sorted(group, key=lambda d: (distance(d), d.id))

    stations = by_distance(
        [d for d in eligible if d.tier is Tier.COMMUNITY and community_id in d.community_ids]
    )
    centres = by_distance([d for d in eligible if d.tier is Tier.DISTRICT])
    home = [d for d in centres if community is not None and d.district == community.district][:1]
    others = [d for d in centres if d not in home]
    city = by_distance([d for d in eligible if d.tier is Tier.CITY])
    return [*stations, *home, *others, *city]
