"""bakery_shared.db on a real SQLite file: write transactions are serialised from their first read."""

from __future__ import annotations

import asyncio

from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text, update

from bakery_shared.db import create_engine, create_session_factory, transaction

counters = Table("counters", MetaData(), Column("id", Integer, primary_key=True), Column("value", Integer))


async def test_read_modify_write_in_a_transaction_loses_no_update_on_sqlite(tmp_path):
    """Without BEGIN IMMEDIATE the SELECT ran outside any transaction: of 30 concurrent increments most were lost."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    sessions = create_session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(counters.metadata.create_all)
            await conn.execute(insert(counters).values(id=1, value=0))

        async def increment() -> None:
            async with transaction(sessions) as session:
                value = (await session.execute(select(counters.c.value).where(counters.c.id == 1))).scalar_one()
                await asyncio.sleep(0.001)  # let the other units of work run between the read and the write
                await session.execute(update(counters).where(counters.c.id == 1).values(value=value + 1))

        await asyncio.gather(*(increment() for _ in range(30)))
        async with sessions() as session:
            assert (await session.execute(select(counters.c.value))).scalar_one() == 30
    finally:
        await engine.dispose()


async def test_transaction_holds_the_write_lock_before_its_first_write(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    sessions = create_session_factory(engine)
    try:
        async with transaction(sessions) as session:
            await session.execute(text("SELECT 1"))
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection.in_transaction
        async with sessions() as session:  # plain reads keep WAL's lock-free snapshots
            await session.execute(text("SELECT 1"))
            raw = await (await session.connection()).get_raw_connection()
            assert not raw.driver_connection.in_transaction
    finally:
        await engine.dispose()


async def test_write_transactions_of_one_process_queue_in_order_not_in_sqlites_busy_wait(tmp_path):
    """SQLite's busy handler sleeps in the driver's thread (up to 100 ms a try) while the write lock is taken; the
    write transactions of one process queue on an asyncio lock instead: one at a time, first come first served."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    sessions = create_session_factory(engine)
    events: list[tuple[str, int]] = []
    try:
        async with engine.begin() as conn:
            await conn.run_sync(counters.metadata.create_all)
            await conn.execute(insert(counters).values(id=1, value=0))

        async def unit(n: int) -> None:
            async with transaction(sessions) as session:
                events.append(("in", n))
                await asyncio.sleep(0.005)
                await session.execute(update(counters).where(counters.c.id == 1).values(value=counters.c.value + 1))
                events.append(("out", n))

        await asyncio.gather(*(unit(n) for n in range(20)))
    finally:
        await engine.dispose()
    assert events == [(kind, n) for n in range(20) for kind in ("in", "out")]


async def test_statement_counts_are_written_on_request_not_only_at_exit(tmp_path, monkeypatch):
    """A uvicorn server never reaches ``atexit`` (it re-raises SIGTERM): the notification API writes its count
    when its runtime closes, through ``report_statement_counts`` (make bench's SQL per 1,000 messages)."""
    import atexit
    import json
    import os

    from bakery_shared.db import SQL_STATEMENT_COUNTS, report_statement_counts

    monkeypatch.setattr(atexit, "register", lambda *_: None)  # not at this test process's exit: on request only
    monkeypatch.setitem(SQL_STATEMENT_COUNTS, "_registered", 0)
    monkeypatch.setenv("SQL_STATEMENT_COUNTER", "1")
    monkeypatch.setenv("SQL_STATEMENT_COUNTER_DIR", str(tmp_path / "counts"))
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/count.db")
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    await engine.dispose()
    report_statement_counts()
    written = json.loads((tmp_path / "counts" / f"{os.getpid()}.json").read_text())
    assert written["statements"] >= 1


async def test_ping_after_idle_replaces_a_dead_idle_connection_and_skips_the_ping_when_busy(postgres_url):
    """``ping_after_idle``: a pooled connection idle longer than that is pinged at check-out (a dead one is replaced
    before use); one checked out again at once is not (no round trip), so a break in between fails one statement
    and SQLAlchemy drops the connection: the next transaction works."""
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(postgres_url, ping_after_idle=0.2, pool_size=1)
    admin = create_engine(postgres_url)
    sessions = create_session_factory(engine)

    async def backend_pid() -> int:
        async with transaction(sessions) as session:
            return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    async def kill(pid: int) -> None:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
        await asyncio.sleep(0.05)

    try:
        first = await backend_pid()
        await kill(first)
        await asyncio.sleep(0.3)  # idle past the threshold: pinged, found dead, replaced
        second = await backend_pid()
        assert second != first
        await kill(second)  # checked out again at once: not pinged, the statement meets the dead connection
        try:
            await backend_pid()
            raise AssertionError("a dead connection checked out without a ping must fail its statement")
        except DBAPIError as exc:
            assert exc.connection_invalidated
        third = await backend_pid()
        assert third not in (first, second)
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_a_postgres_connection_keeps_a_bounded_number_of_prepared_statements(postgres_url):
    """Every distinct SQL text is prepared and cached per pooled connection; the cache evicts the least recently
    used beyond its bound (1.5 × PREPARED_STATEMENTS_PER_CONNECTION before it prunes back to the bound), and a
    statement in use stays cached (not prepared again)."""
    from bakery_shared.db import PREPARED_STATEMENTS_PER_CONNECTION

    engine = create_engine(postgres_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            cache = raw.dbapi_connection._prepared_statement_cache
            hot = text("SELECT 1 AS hot")
            for i in range(3 * PREPARED_STATEMENTS_PER_CONNECTION):
                await conn.execute(text(f"SELECT {i} AS n"))  # a new text each time: single use
                await conn.execute(hot)
            assert PREPARED_STATEMENTS_PER_CONNECTION <= len(cache) <= 1.5 * PREPARED_STATEMENTS_PER_CONNECTION
            assert "SELECT 1 AS hot" in cache
    finally:
        await engine.dispose()
