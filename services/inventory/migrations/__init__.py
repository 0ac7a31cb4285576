"""Alembic environment of the inventory service (see shared/migrations.py)."""
