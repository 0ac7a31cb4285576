"""Alembic runs this for every command on the routing database."""

from services.routing.adapters.orm import RoutingTable
from shared.migrations import run_environment

run_environment(RoutingTable.metadata)
