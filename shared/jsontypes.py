"""JSON request scalars that mean what the OpenAPI schema says and nothing looser.

Pydantic only (no web framework), so that pure libraries with a JSON form, such as the
routing engine's problem schema, share the rules with the services' HTTP edge."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict, StrictBool


def _integral(value: Any) -> Any:
    # JSON has one number type: 3.0 is the integer 3 (JSON Schema agrees), while 3.5,
    # "3" and true are not integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The integer rule on its own, for a bounded integer inside another type: there the bound
# goes first, ``Annotated[int, Field(ge=0), JSON_INTEGER, Strict()] | None``, as pydantic
# documents a bound placed after a validator as a raw "ge" key that OpenAPI tools ignore
# (a bound on a JsonInt field itself, ``x: JsonInt = Field(ge=0)``, is documented right).
JSON_INTEGER = BeforeValidator(_integral)

# Request-body scalars that mean what the OpenAPI schema says and nothing looser:
# pydantic's lax mode would take true for 1, "2.5" for 2.5 and 0 for false.
JsonInt = Annotated[int, JSON_INTEGER, Strict()]
JsonFloat = Annotated[float, Strict()]
JsonBool = StrictBool

_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _full_date(value: Any) -> Any:
    # JSON has no date type: the schema's `format: date` is the string YYYY-MM-DD, while
    # lax mode would take 0 (1970-01-01) or "2026-11-20T00:00:00". Strict() cannot say
    # this: FastAPI validates the parsed body, where a strict date takes no string at all.
    if isinstance(value, date) or (isinstance(value, str) and _FULL_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date string YYYY-MM-DD")


JsonDate = Annotated[date, BeforeValidator(_full_date)]

