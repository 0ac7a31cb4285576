"""Priority groups (SPEC section 2): whom scarce stock and vans serve first.

The one vocabulary and the one order for every service and the routing engine: orders
decide a household's group, inventory queues by it, routing weighs drops by it. Pure
Python, so the engine's worker processes can import it without the event contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Priority(StrEnum):
    MEDICAL = "medical"
    VULNERABLE = "vulnerable"
    STANDARD = "standard"

    @property
    def rank(self) -> int:
        """Place in the queue when stock or vans are short: 0 (medical) is served first."""
        return _RANK[self]


#: Most urgent first: the order queues are served in and reports list the groups in.
BY_URGENCY: tuple[Priority, ...] = (Priority.MEDICAL, Priority.VULNERABLE, Priority.STANDARD)
_RANK = {priority: rank for rank, priority in enumerate(BY_URGENCY)}


def most_urgent(priorities: Iterable[str]) -> Priority:
    """The group that decides for several orders together (e.g. one stop's orders)."""
    return min((Priority(p) for p in priorities), key=_RANK.__getitem__)
