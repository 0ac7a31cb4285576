"""Field validation for the problem data: a bad value raises ``ValueError`` whose message
starts with the offending field path, so the HTTP layer can hand it straight back."""

from __future__ import annotations

import math

import numpy as np


def fail(path: str, msg: str) -> ValueError:
    return ValueError(f"{path}: {msg}")


def check_int(path: str, value: object, *, lo: int | None = None, hi: int | None = None) -> None:
    # bool is an int subclass; True as a time is almost always a bug upstream.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise fail(path, f"must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise fail(path, f"must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise fail(path, f"must be <= {hi}, got {value}")


def check_num(path: str, value: object, *, lo: float = 0.0, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise fail(path, f"must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise fail(path, f"must be finite, got {value}")
    if positive and value <= 0:
        raise fail(path, f"must be > 0, got {value}")
    if value < lo:
        raise fail(path, f"must be >= {lo}, got {value}")


def check_id(path: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise fail(path, f"must be a non-empty string, got {value!r}")
