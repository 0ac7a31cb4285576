"""The fleet simulator's control app: inject faults, see the vehicles.

A tool of the simulation, not a service of the system: it has no credentials of its own
and listens on the loopback interface unless told otherwise (``fleet_main.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.simulation.fleet import FleetSimulator

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["breakdown", "failed_handover", "late_arrival"]
    vehicle_id: Identifier | None = None
    community_id: Identifier | None = None
    minutes: float | None = Field(default=None, gt=0, le=24 * 60)
    reason: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> FaultRequest:
        needed = {
            "breakdown": ("vehicle_id",),
            "failed_handover": ("community_id",),
            "late_arrival": ("vehicle_id", "minutes"),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} fault needs {' and '.join(missing)}")
        return self


def _simulator(request: Request) -> FleetSimulator:
    simulator: FleetSimulator = request.app.state.simulator
    return simulator


Simulator = Annotated[FleetSimulator, Depends(_simulator)]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(lifespan: Lifespan | None = None, simulator: FleetSimulator | None = None) -> FastAPI:
    """The app; its simulator is given, or put on ``app.state.simulator`` by ``lifespan``."""
    app = FastAPI(title="Lifeline fleet simulator", lifespan=lifespan)
    if simulator is not None:
        app.state.simulator = simulator

    @app.post("/faults")
    async def inject_fault(fault: FaultRequest, simulator: Simulator) -> JSONResponse:
        """``breakdown`` now (routing returns the vehicle's open stops to demand);
        ``failed_handover``: the next hand-over at the community fails with ``reason``;
        ``late_arrival``: the rest of the vehicle's route runs ``minutes`` later."""
        if fault.kind == "breakdown":
            assert fault.vehicle_id is not None
            status, body = await simulator.break_down(fault.vehicle_id, fault.reason or "breakdown")
            return JSONResponse(body if status == 200 else {"detail": body}, status_code=status)
        if fault.kind == "failed_handover":
            assert fault.community_id is not None
            answer = simulator.fail_handover(fault.community_id, fault.reason or "hand-over refused at the gate",
                                             fault.vehicle_id)
            return JSONResponse(answer, status_code=202)
        assert fault.vehicle_id is not None and fault.minutes is not None
        return JSONResponse(simulator.delay(fault.vehicle_id, fault.minutes))

    @app.get("/status")
    async def status(simulator: Simulator) -> dict[str, Any]:
        """Every vehicle seen in a dispatched plan: state, position, plan, next stop, counts."""
        return simulator.status()

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """503 when a part of the simulator (the feed, the depots, the driver) has died."""
        problems: Callable[[], list[str]] = getattr(request.app.state, "problems", list)
        failed = problems()
        if failed:
            return JSONResponse({"status": "failing", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
