"""Solving in a child process, so a 60 s solve never holds the service's event loop or GIL.

The child reports progress and the final solution through a pipe; the parent reads it
from a worker thread. Problem and Solution are frozen dataclasses and travel pickled.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any, Protocol

from services.routing.engine import Problem, Progress, Solution, SolveParams

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


class Solver(Protocol):
    async def __call__(
        self, problem: Problem, params: SolveParams, on_progress: ProgressCallback,
        *, fixed: dict[str, list[str]] | None = None, warm_start: Solution | None = None,
    ) -> Solution: ...


def _child(connection: Connection, mode: str, problem: Problem, params: SolveParams,
           fixed: dict[str, list[str]] | None, warm_start: Solution | None) -> None:
    from services.routing import engine

    def report(progress: Progress) -> None:
        connection.send(("progress", progress))

    try:
        if mode == "reoptimize":
            solution = engine.reoptimize(problem, fixed or {}, params, on_progress=report)
        else:
            solution = engine.solve(problem, params, on_progress=report, warm_start=warm_start)
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
    warm_start: Solution | None = None,
) -> Solution:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    mode = "reoptimize" if fixed is not None else "solve"
    process = context.Process(
        target=_child, args=(sender, mode, problem, params, fixed, warm_start), name="lifeline-solver"
    )
    # Starting a spawned child writes its pickled arguments down a pipe, which blocks until
    # the child (importing the engine) reads them: a thread, so the event loop never waits.
    await asyncio.to_thread(process.start)
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


def _solve_here(
    problem: Problem, params: SolveParams, fixed: dict[str, list[str]] | None, warm_start: Solution | None
) -> Solution:
    from services.routing import engine

    if fixed is not None:
        return engine.reoptimize(problem, fixed, params)
    return engine.solve(problem, params, warm_start=warm_start)


class SolverPool:
    """One long-lived solver process for the operations loop's many short solves: a fresh
    child per solve would pay the engine's imports (about a second of CPU) every time."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def __call__(
        self, problem: Problem, params: SolveParams, on_progress: ProgressCallback,
        *, fixed: dict[str, list[str]] | None = None, warm_start: Solution | None = None,
    ) -> Solution:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, _solve_here, problem, params, fixed, warm_start)
        except BrokenProcessPool:
            self._pool = None  # the child died (killed, out of memory): the next solve starts a new one
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
