"""Alembic runs this for every command on the orders database."""

from services.orders.adapters.orm import OrdersTable
from shared.migrations import run_environment

run_environment(OrdersTable.metadata)
