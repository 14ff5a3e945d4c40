"""Group commit: the writes of concurrent callers share one transaction.

One commit per request costs a round trip, a WAL flush and the driver's and ORM's fixed work per transaction; at
concurrency 50 that fixed cost, not the rows, is what a write path spends (docs/benchmarks.md). A
:class:`GroupCommit` queues what callers submit and one writer task hands everything queued to ``write`` at once,
which stores the whole batch in one transaction and answers one result per item.

There is no timer and no linger: while a batch is being written the next callers queue, so batches grow with the
load by themselves and a lone caller is written at once. A batch that fails as a whole is written again one item at
a time, so one bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("bakery.group_commit")

#: ``write(items)`` stores every item in one transaction and returns, in the same order, each item's result or the
#: exception that item's caller gets (an item-level refusal: a conflict, a quota).
Writer = Callable[[Sequence[T]], Awaitable[Sequence["R | BaseException"]]]


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Writer[T, R], *, max_batch: int = 200, name: str = "group commit") -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self.max_batch = max_batch
        self.name = name
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.batches = 0  # batches written (for tests and metrics)

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result (what ``write`` answered for it, or its exception)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._start(loop)
        future: asyncio.Future[R] = loop.create_future()
        future.add_done_callback(_retrieve)  # a caller that went away leaves no "exception never retrieved"
        self._pending.append((item, future))
        assert self._wake is not None
        self._wake.set()
        # shield: a caller that goes away (a client disconnect) does not cancel a write other callers share
        return await asyncio.shield(future)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._closing = False
        self._wake = asyncio.Event()
        # a fresh context: the writer serves every caller, so it must not carry the first caller's log context
        # (request id, tenant) into what it logs for all of them
        self._task = loop.create_task(self._run(), name=self.name, context=contextvars.Context())

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                await self._write_batch(batch)
            if self._closing:
                return
            await self._wake.wait()
            self._wake.clear()

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(RuntimeError(f"{self.name} stopped before the write finished"))
            raise
        except Exception as exc:  # noqa: BLE001 - isolate: each item alone, so a bad one fails only its caller
            if len(batch) == 1 or database_unavailable(exc):
                # unavailable: every item would wait and fail the same way, one after the other
                for _, future in batch:
                    self._settle(future, exc)
                return
            # the type only: a driver's message quotes the rows' values (personal data)
            log.warning(
                "%s: a batch of %d failed (%s); writing its items one by one", self.name, len(batch), type(exc).__name__
            )
            for one in batch:
                await self._write_batch([one])
            return
        self.batches += 1
        for (_, future), result in zip(batch, results, strict=True):
            self._settle(future, result)

    @staticmethod
    def _settle(future: asyncio.Future[R], result: R | BaseException) -> None:
        if future.done():
            return
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    async def aclose(self) -> None:
        """Write what is queued, then stop the writer task."""
        task = self._task
        if task is None or task.done() or self._wake is None:
            return
        self._closing = True
        self._wake.set()
        await task


def database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or is locked (not something one item of the batch did)."""
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    return bool(getattr(exc, "connection_invalidated", False))


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
