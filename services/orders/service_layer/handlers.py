"""The orders service's use cases, by family: each takes a command (or an event payload)
and a unit of work, and every write is one transaction (state, timeline row and outbox
event together). Entrypoints import the families through this index.
"""

from services.orders.service_layer.pipelined_placing import OrderPlacement
from services.orders.service_layer.placing import (
    OrderIntake,
    Placed,
    place_order,
    place_orders,
)
from services.orders.service_layer.registry import (
    define_sku,
    get_community,
    get_household,
    list_catalog,
    list_communities,
    register_community,
    register_household,
)
from services.orders.service_layer.tracking import (
    OrderDetails,
    apply_fact,
    can_see,
    cancel_order,
    get_order,
    list_orders,
    note_release,
    order_view,
)

__all__ = [
    "OrderDetails", "OrderIntake", "OrderPlacement", "Placed", "apply_fact", "can_see",
    "cancel_order", "define_sku", "get_community", "get_household", "get_order", "list_catalog",
    "list_communities", "list_orders", "note_release", "order_view", "place_order", "place_orders",
    "register_community", "register_household",
]
