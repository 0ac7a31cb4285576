"""Alembic environment of the orders service (see shared/migrations.py)."""
