"""Group commit (shared/group_commit.py): who shares a batch and who gets which outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.group_commit import GroupCommit


class Refused(Exception):
    pass


class Recorder:
    """A batch function that doubles numbers, refuses negative ones, and remembers its batches."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_next = False

    async def __call__(self, requests: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(requests))
        await asyncio.sleep(0)  # the database answering: requests keep arriving meanwhile
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the transaction failed")
        return [Refused(n) if n < 0 else n * 2 for n in requests]


async def test_requests_that_arrive_together_share_one_batch() -> None:
    run = Recorder()
    commit = GroupCommit(run, name="test")
    assert await asyncio.gather(*(commit.submit(n) for n in range(10))) == [n * 2 for n in range(10)]
    assert run.batches == [list(range(10))]


async def test_batches_are_capped_and_later_requests_start_a_new_writer() -> None:
    run = Recorder()
    commit = GroupCommit(run, name="test", max_batch=4)
    await asyncio.gather(*(commit.submit(n) for n in range(10)))
    assert [len(b) for b in run.batches] == [4, 4, 2]
    assert await commit.submit(7) == 14  # the writer is gone; a new one starts
    assert run.batches[-1] == [7]


async def test_a_refused_request_fails_alone() -> None:
    commit = GroupCommit(Recorder(), name="test")
    results = await asyncio.gather(*(commit.submit(n) for n in (1, -1, 2)), return_exceptions=True)
    assert results[0] == 2 and results[2] == 4
    assert isinstance(results[1], Refused)


async def test_a_failed_batch_fails_its_requests_and_the_next_batch_runs() -> None:
    run = Recorder()
    commit = GroupCommit(run, name="test")
    run.fail_next = True
    results = await asyncio.gather(*(commit.submit(n) for n in (1, 2)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await commit.submit(3) == 6


async def test_requests_queued_while_a_batch_runs_form_the_next_batch() -> None:
    run = Recorder()
    commit = GroupCommit(run, name="test")
    first = asyncio.ensure_future(commit.submit(1))
    await asyncio.sleep(0)  # the writer has taken [1] and yields before the next batch
    later = [asyncio.ensure_future(commit.submit(n)) for n in (2, 3)]
    assert await first == 2 and await asyncio.gather(*later) == [4, 6]
    assert run.batches == [[1], [2, 3]]


@pytest.mark.parametrize("size", [1, 3])
async def test_a_caller_that_left_does_not_break_the_batch(size: int) -> None:
    commit = GroupCommit(Recorder(), name="test")
    leaving = asyncio.ensure_future(commit.submit(5))
    staying = [asyncio.ensure_future(commit.submit(n)) for n in range(size)]
    leaving.cancel()
    assert await asyncio.gather(*staying) == [n * 2 for n in range(size)]
