"""The inventory service's use cases, by family: each takes a command or payload and an
open unit of work (event handlers) or opens one itself (HTTP), changes state, stages
events in the outbox, and commits them together. Rules come from ``domain``; row-level
guarantees from the repositories. Entrypoints import the families through this index.
"""

from services.inventory.service_layer.backorders import expire_backorders
from services.inventory.service_layer.catalog import (
    define_depot,
    define_sku,
    list_depots,
    list_skus,
    record_community,
)
from services.inventory.service_layer.context import Context
from services.inventory.service_layer.fulfilment import cancel_order, ship_order
from services.inventory.service_layer.reservations import reserve_order, reserve_orders
from services.inventory.service_layer.stock_movements import (
    StockEventResult,
    apply_stock_batch,
    apply_stock_event,
    record_receipts,
    record_stock_movement,
    require_known,
    stock_command,
)
from services.inventory.service_layer.views import get_allocation, outlook, stock_rows

__all__ = [
    "Context", "StockEventResult", "apply_stock_batch", "apply_stock_event", "cancel_order", "define_depot",
    "define_sku",
    "expire_backorders", "get_allocation", "list_depots", "list_skus", "outlook", "record_community",
    "record_receipts", "record_stock_movement", "require_known", "reserve_order", "reserve_orders", "ship_order",
    "stock_command", "stock_rows",
]
