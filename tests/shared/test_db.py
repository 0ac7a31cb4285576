"""Datetimes mean the same instant after a round trip through the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from shared.db import UtcTimestamp, make_engine
from tests.support import database_url_for, drop_schemas

metadata = MetaData()
moments = Table("moments", metadata, Column("id", Integer, primary_key=True), Column("at", UtcTimestamp()))


def test_an_offset_datetime_comes_back_as_the_same_instant_in_utc(tmp_path: Path) -> None:
    # Shanghai's 20:00 is 12:00 UTC; SQLite keeps no offset, so a plain DateTime column
    # hands back 20:00 naive, which the services then read as 20:00 UTC.
    tag = uuid.uuid4().hex[:10]
    engine = make_engine(database_url_for("toy", tmp_path, tag))
    try:
        metadata.create_all(engine)
        shanghai = datetime(2026, 12, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
        with engine.begin() as connection:
            connection.execute(insert(moments).values(id=1, at=shanghai))
            connection.execute(insert(moments).values(id=2, at=None))
        with engine.connect() as connection:
            rows = {row.id: row.at for row in connection.execute(select(moments.c.id, moments.c.at))}
        assert rows[1] == shanghai and rows[1].tzinfo == UTC and rows[1].hour == 12
        assert rows[2] is None
    finally:
        engine.dispose()
        drop_schemas(tag)
