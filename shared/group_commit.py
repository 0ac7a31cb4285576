"""Group commit: requests that arrive while a transaction is running share the next one.

A web request that writes pays, besides its own statements, for a thread hop, a
connection checkout, BEGIN and COMMIT, and (on SQLite) the wait for the one writer lock.
Under load those fixed costs were most of an order's CPU. Here concurrent requests queue
on the event loop and one writer task hands each batch to a blocking function that runs
them all in one transaction, in a worker thread, and says per request what happened. At
low load a batch is a single request and nothing waits; at high load batches grow on
their own (they hold what arrived while the previous one ran), so throughput rises with
load instead of collapsing into lock waits. Databases have done the same with their
commit log for decades.

The batch function owns correctness: it decides what one request's failure does to the
others (the order intake answers a refused order with its error and commits the rest, and
falls back to one transaction per order when the batch itself fails).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from shared.observability import GROUP_COMMIT_BATCH, GROUP_COMMIT_SECONDS

Request = TypeVar("Request")
Result = TypeVar("Result")


class GroupCommit(Generic[Request, Result]):
    def __init__(
        self,
        run_batch: Callable[[Sequence[Request]], Sequence[Result | BaseException]],
        *,
        name: str,
        max_batch: int = 64,
        writers: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._writers_wanted = writers
        self._pending: list[tuple[Request, asyncio.Future[Result]]] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._batch_size = GROUP_COMMIT_BATCH.labels(name)
        self._batch_seconds = GROUP_COMMIT_SECONDS.labels(name)

    async def submit(self, request: Request) -> Result:
        """Run ``request`` in the next batch; its outcome, or its exception raised here.

        A caller that is cancelled while waiting (a client that hung up) does not take
        its request back: it may already be in a running transaction."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if len(self._writers) < self._writers_wanted:
            # A writer lives only while there is work, so it needs no start or stop and
            # never outlives the event loop it was made on.
            writer = asyncio.create_task(self._write(), name="group-commit")
            self._writers.add(writer)
        return await future

    async def _write(self) -> None:
        try:
            await self._write_while_pending()
        finally:
            # In the same step as the last look at the queue: a request queued after it
            # finds one writer fewer and starts one.
            self._writers.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _write_while_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            requests = [request for request, _ in batch]
            started = time.perf_counter()
            try:
                outcomes = await asyncio.to_thread(self._run_batch, requests)
            except BaseException as exc:
                stopping = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit)
                if stopping:  # the loop is going away: nobody will run what is queued
                    batch += self._pending
                    self._pending = []
                for _, future in batch:
                    if future.done():
                        continue
                    if stopping:
                        future.cancel()
                    else:
                        future.set_exception(exc)
                if stopping:
                    raise
                continue
            self._batch_size.observe(len(batch))
            self._batch_seconds.observe(time.perf_counter() - started)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
