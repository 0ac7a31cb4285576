"""Outbox and inbox tables, added to each service's own metadata (each has its own DB)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from shared.db import UtcTimestamp

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for an outbox.
_Id = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table


#: Every service's outbox and inbox tables, by these names (shared/messaging/store.py
#: writes them through the driver).
OUTBOX = "outbox"
INBOX = "inbox"


def add_messaging_tables(metadata: MetaData) -> MessagingTables:
    outbox = Table(
        OUTBOX,
        metadata,
        Column("id", _Id, primary_key=True, autoincrement=True),
        Column("event_id", String(200), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", UtcTimestamp(), nullable=False),
        Column("sent_at", UtcTimestamp(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.id)
    inbox = Table(
        INBOX,
        metadata,
        Column("event_id", String(200), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UtcTimestamp(), nullable=False),
    )
    return MessagingTables(outbox=outbox, inbox=inbox)
