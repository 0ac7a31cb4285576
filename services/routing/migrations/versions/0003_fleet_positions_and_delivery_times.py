"""Where each vehicle was last seen, and when each order was handed over at the gate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("demandorder") as batch:
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "vehicleposition",
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("next_stop_id", sa.String(length=128), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id"),
    )
    op.create_index(op.f("ix_vehicleposition_depot_id"), "vehicleposition", ["depot_id"], unique=False)


def downgrade() -> None:
    op.drop_table("vehicleposition")
    with op.batch_alter_table("demandorder") as batch:
        batch.drop_column("delivered_at")
