"""What the fleet simulator knows of plans: which plan re-plans which, the newest plan of
each re-plan chain, and the stops a chain has handed over.

A re-plan (child plan) holds its parent's stops that are done or under way, with the same
stop ids, and supersedes the parent when dispatched. Stop ids are unique within a chain
but not across plans (each day's plan of a depot has its ``DC-1/C-1/ambient``), so what
was handed over is kept per chain, under the chain's first plan.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.simulation.fleet_clients import RoutingClient

log = logging.getLogger(__name__)

#: Re-plan chains longer than this are not followed (a guard, not a length seen in practice).
LONGEST_CHAIN = 200


@dataclass(frozen=True)
class Lineage:
    plan_id: str
    #: The plans this one re-plans, nearest first.
    ancestors: tuple[str, ...]

    @property
    def members(self) -> set[str]:
        return {self.plan_id, *self.ancestors}

    @property
    def root(self) -> str:
        return self.ancestors[-1] if self.ancestors else self.plan_id


class PlanChains:
    def __init__(self, routing: RoutingClient) -> None:
        self._routing = routing
        self._parents: dict[str, str | None] = {}
        self._newest: dict[str, str] = {}
        self._roots: dict[str, str] = {}
        self._done: dict[str, set[str]] = {}
        self._applied: set[str] = set()
        #: Plans being read: the dispatch feed must not commit past them yet.
        self.fetching: set[str] = set()

    def settled(self, plan_id: str) -> bool:
        """Applied already, or superseded by a plan that was."""
        return plan_id in self._applied or plan_id in self._newest

    def newest(self, plan_id: str) -> str:
        """The newest applied plan of the chain: the one deliveries go against."""
        return self._newest.get(plan_id, plan_id)

    def root(self, plan_id: str) -> str:
        return self._roots.get(plan_id, plan_id)

    def done(self, plan_id: str) -> set[str]:
        """The stops handed over in the plan's chain (the same set for every member)."""
        return self._done.setdefault(self.root(plan_id), set())

    async def dispatched(self, plan_id: str) -> tuple[dict[str, Any], Lineage] | None:
        """The plan as routing has it, when it is (still) dispatched, with its lineage."""
        with self._reading(plan_id):
            response = await self._routing.plan(plan_id)
            if response.status_code != 200:
                log.error("plan %s dispatched but not readable: %s %s", plan_id, response.status_code,
                          response.text[:300])
                return None
            plan: dict[str, Any] = response.json()
            self._parents[plan_id] = plan.get("parent_plan_id")
            if plan["status"] != "dispatched":
                # Superseded while the event travelled: its successor's dispatch takes over.
                log.info("plan %s is %s by now; not driven", plan_id, plan["status"])
                return None
            return plan, Lineage(plan_id, tuple(await self._ancestors(plan_id)))

    def applied(self, lineage: Lineage) -> None:
        for member in lineage.members:
            self._roots[member] = lineage.root
        for ancestor in lineage.ancestors:
            self._newest[ancestor] = lineage.plan_id
        self._applied.add(lineage.plan_id)

    @contextlib.contextmanager
    def _reading(self, plan_id: str) -> Iterator[None]:
        self.fetching.add(plan_id)
        try:
            yield
        finally:
            self.fetching.discard(plan_id)

    async def _ancestors(self, plan_id: str) -> list[str]:
        """Nearest first; fetched when their dispatch was not read (yet): the dispatches of
        one chain are keyed by plan id, so they travel on different partitions."""
        chain: list[str] = []
        parent = self._parents.get(plan_id)
        while parent is not None and len(chain) < LONGEST_CHAIN:
            chain.append(parent)
            if parent not in self._parents:
                response = await self._routing.plan(parent)
                known = response.status_code == 200
                self._parents[parent] = response.json().get("parent_plan_id") if known else None
            parent = self._parents[parent]
        return chain
