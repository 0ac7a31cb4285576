"""Alembic environment of the routing service (see shared/migrations.py)."""
