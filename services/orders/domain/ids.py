"""Time-ordered order ids (ULID layout): newest-first listing and cursors sort by id.

The time part is the service clock's, so that a simulated day's orders sort by when they
were placed in it."""

from __future__ import annotations

from shared import clock, ids

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_order_id() -> str:
    value = (int(clock.now().timestamp() * 1000) << 80) | ids.random_bits("order", 80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "O-" + "".join(reversed(chars))
