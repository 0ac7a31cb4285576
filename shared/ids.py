"""The random part of the ids this system makes (orders, plans).

From the operating system, unless a seed is set (``LIFELINE_ID_SEED``): a reproducible
simulation names its orders and plans alike in every run, because some choices order by
id (newest-first listings, which plan a re-plan visits first). Each kind of id draws from
its own stream, so a plan made more or less often cannot shift the orders' ids.
"""

from __future__ import annotations

import os
import random

_seed: int | None = None
_streams: dict[str, random.Random] = {}


def seed(value: int | None) -> None:
    """Draw from seeded streams from now on (None: from the operating system)."""
    global _seed
    _seed = value
    _streams.clear()


def random_bits(kind: str, bits: int) -> int:
    if _seed is None:
        return int.from_bytes(os.urandom((bits + 7) // 8), "big") >> (-bits % 8)
    stream = _streams.get(kind)
    if stream is None:
        stream = _streams[kind] = random.Random(f"{_seed}/{kind}")  # str seeds hash with SHA-512
    return stream.getrandbits(bits)


def random_hex(kind: str, digits: int) -> str:
    return f"{random_bits(kind, 4 * digits):0{digits}x}"
