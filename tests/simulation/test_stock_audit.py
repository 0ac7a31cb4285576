"""The simulation's stock audit: each stock row against the sums of its own ledger, read in
one statement (the services are still running while the outcome is read)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.simulation.outcome import _stock_conserved
from shared.settings import Settings

TABLES = """
    CREATE TABLE stock (depot_id TEXT, sku TEXT, on_hand INT, reserved INT);
    CREATE TABLE stock_ledger (depot_id TEXT, sku TEXT, on_hand_delta INT, reserved_delta INT);
    INSERT INTO stock VALUES ('DC-1', 'RICE', 8, 2), ('DC-1', 'MILK', 5, 0), ('DC-2', 'MILK', 0, 0);
    INSERT INTO stock_ledger VALUES ('DC-1', 'RICE', 10, 0), ('DC-1', 'RICE', 0, 2), ('DC-1', 'RICE', -2, 0),
                                    ('DC-1', 'MILK', 5, 0);
"""


def test_stock_is_conserved_when_every_row_is_the_sum_of_its_ledger_and_not_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    with sqlite3.connect(path) as db:
        db.executescript(TABLES)
    settings = Settings(inventory_database_url=f"sqlite:///{path}")
    assert _stock_conserved(settings)  # a row without ledger entries is zero on both sides

    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO stock_ledger VALUES ('DC-2', 'MILK', 4, 0)")
    assert not _stock_conserved(settings)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE stock SET on_hand = 4 WHERE depot_id = 'DC-2'")
        db.execute("UPDATE stock SET reserved = 9 WHERE depot_id = 'DC-1' AND sku = 'RICE'")
        db.execute("INSERT INTO stock_ledger VALUES ('DC-1', 'RICE', 0, 7)")
    assert not _stock_conserved(settings)  # the ledger agrees, but 9 reserved of 8 is oversold
