"""bakery_shared.group_commit: concurrent submits share writes; a failing batch isolates its bad item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bakery_shared.group_commit import GroupCommit


class Recorder:
    def __init__(self, *, bad: set[int] | None = None, refuse: set[int] | None = None) -> None:
        self.calls: list[list[int]] = []
        self.bad = bad or set()
        self.refuse = refuse or set()

    async def write(self, items: Sequence[int]) -> list[int | BaseException]:
        self.calls.append(list(items))
        await asyncio.sleep(0.01)  # a transaction in flight: the next callers queue meanwhile
        if self.bad & set(items):
            raise RuntimeError("the database refused the batch")
        return [ValueError(f"item {i} refused") if i in self.refuse else i * 10 for i in items]


async def test_concurrent_submits_share_batches_and_get_their_own_results() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write, max_batch=50)
    results = await asyncio.gather(*(group.submit(i) for i in range(120)))
    assert results == [i * 10 for i in range(120)]
    assert sorted(i for call in recorder.calls for i in call) == list(range(120))
    assert len(recorder.calls) < 120 and max(len(c) for c in recorder.calls) <= 50
    await group.aclose()


async def test_a_lone_submit_is_written_at_once_in_a_batch_of_one() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    assert await group.submit(7) == 70
    assert recorder.calls == [[7]]
    await group.aclose()


async def test_an_item_level_refusal_reaches_only_its_caller() -> None:
    group: GroupCommit[int, int] = GroupCommit(Recorder(refuse={3}).write)
    results = await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    await group.aclose()


async def test_a_batch_that_fails_as_a_whole_is_retried_item_by_item() -> None:
    recorder = Recorder(bad={4})
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    results = await asyncio.gather(*(group.submit(i) for i in range(8)), return_exceptions=True)
    assert isinstance(results[4], RuntimeError)
    assert [r for i, r in enumerate(results) if i != 4] == [0, 10, 20, 30, 50, 60, 70]
    assert [4] in recorder.calls  # the bad item alone
    await group.aclose()


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_write() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    first = asyncio.ensure_future(group.submit(1))
    second = asyncio.ensure_future(group.submit(2))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == 20
    assert recorder.calls == [[1, 2]]
    await group.aclose()


async def test_close_writes_what_is_queued() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write, max_batch=2)
    pending = [asyncio.ensure_future(group.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    await group.aclose()
    assert await asyncio.gather(*pending) == [0, 10, 20, 30, 40]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(Recorder().write, max_batch=0)


async def test_the_writer_does_not_run_in_the_first_callers_context() -> None:
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")
    seen: list[str] = []

    async def write(items: Sequence[int]) -> list[int]:
        seen.append(request_id.get())  # what the writer's own log lines would be tagged with
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write)

    async def caller(i: int) -> int:
        request_id.set(f"request-{i}")
        return await group.submit(i)

    assert await asyncio.gather(caller(1), caller(2)) == [1, 2]
    assert seen == ["none"]
    await group.aclose()


async def test_an_unreachable_database_fails_the_batch_at_once_not_item_by_item() -> None:
    calls: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(items))
        await asyncio.sleep(0.01)
        raise ConnectionRefusedError("connection refused")

    group: GroupCommit[int, int] = GroupCommit(write)
    results = await asyncio.gather(*(group.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert calls == [[0, 1, 2, 3, 4]]  # failed together, never retried one by one
    await group.aclose()


async def test_a_failed_batch_logs_the_error_type_not_the_rows(caplog: pytest.LogCaptureFixture) -> None:
    async def write(items: Sequence[int]) -> list[int | BaseException]:
        await asyncio.sleep(0.01)
        if len(items) > 1:
            raise ValueError("duplicate key value (tenant, phone)=(1, +34600000001)")
        return [i for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    assert await asyncio.gather(*(group.submit(i) for i in range(4))) == [0, 1, 2, 3]
    assert "+34600000001" not in caplog.text and "ValueError" in caplog.text
    await group.aclose()
