"""Solving in a child process, so a 60 s solve never holds the service's event loop or GIL.

The child reports progress and the final solution through a pipe; the parent reads it
from a worker thread. Problem and Solution are frozen dataclasses and travel pickled.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from services.routing.engine import Problem, Progress, Solution, SolveParams

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


def _child(connection: Connection, mode: str, problem: Problem, params: SolveParams,
           fixed: dict[str, list[str]] | None) -> None:
    from services.routing import engine

    def report(progress: Progress) -> None:
        connection.send(("progress", progress))

    try:
        if mode == "reoptimize":
            solution = engine.reoptimize(problem, fixed or {}, params, on_progress=report)
        else:
            solution = engine.solve(problem, params, on_progress=report)
        connection.send(("solution", solution))
    except Exception as exc:  # the parent turns this into a failed plan
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        connection.close()


async def solve_in_child(
    problem: Problem,
    params: SolveParams,
    on_progress: ProgressCallback,
    *,
    fixed: dict[str, list[str]] | None = None,
) -> Solution:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    mode = "reoptimize" if fixed is not None else "solve"
    process = context.Process(
        target=_child, args=(sender, mode, problem, params, fixed), name="lifeline-solver"
    )
    process.start()
    sender.close()
    try:
        while True:
            message: Any = await asyncio.to_thread(_receive, receiver)
            kind, value = message
            if kind == "progress":
                on_progress(value)
            elif kind == "solution":
                return value  # type: ignore[no-any-return]
            else:
                raise RuntimeError(value)
    except asyncio.CancelledError:
        process.kill()
        raise
    finally:
        receiver.close()
        await asyncio.to_thread(process.join, 5)
        if process.is_alive():
            process.kill()


def _receive(connection: Connection) -> Any:
    try:
        return connection.recv()
    except EOFError:
        return ("error", "the solver process ended without an answer")
