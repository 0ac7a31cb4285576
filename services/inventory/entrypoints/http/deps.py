"""FastAPI dependencies: the unit of work, the handler context and who may call what."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from services.inventory.service_layer.handlers import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.runtime import ServiceRuntime

# Ids travel in Kafka keys such as "<depot_id>:<sku>", so no colon and no spaces.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def get_uow(request: Request) -> InventoryUnitOfWork:
    runtime: ServiceRuntime[InventoryUnitOfWork] = request.app.state.runtime
    return runtime.uow()


def get_context(request: Request) -> Context:
    context: Context = request.app.state.inventory
    return context


UowDep = Annotated[InventoryUnitOfWork, Depends(get_uow)]
ContextDep = Annotated[Context, Depends(get_context)]
CurrentUser = CurrentPrincipal
Admin = Annotated[Principal, Depends(require_roles("admin"))]
StockReader = Annotated[Principal, Depends(require_roles("admin", "dispatcher", "inventory_system"))]
StockWriter = Annotated[Principal, Depends(require_roles("admin", "inventory_system"))]
DepotId = Annotated[str, Path(pattern=ID_PATTERN, description="depot id (no colon)")]
SkuId = Annotated[str, Path(pattern=ID_PATTERN, description="SKU id (no colon)")]
