"""Alembic runs this for every command on the inventory database."""

from services.inventory.adapters.orm import InventoryTable
from shared.migrations import run_environment

run_environment(InventoryTable.metadata)
