"""Vehicles can be out of service: a breakdown takes one off the road until it is put back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vehicle") as batch:
        batch.add_column(sa.Column("in_service", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("out_of_service_reason", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vehicle") as batch:
        batch.drop_column("out_of_service_reason")
        batch.drop_column("in_service")
