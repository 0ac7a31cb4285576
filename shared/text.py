"""Text that reaches the database: PostgreSQL cannot store NUL in text (psycopg raises,
which was a 500), so request schemas and event checks refuse it up front and name the field."""

from __future__ import annotations

from typing import Any

NO_NUL = r"^[^\x00]*$"


def contains_nul(value: Any) -> bool:
    """Whether a JSON value has a NUL character in any string, keys included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False
