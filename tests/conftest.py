"""Fixtures shared by every test package: real SQLite files and real PostgreSQL databases."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _pg_server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)


def _require_postgres() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "") not in ("", "0", "false")


DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


def _require_rabbitmq() -> bool:
    return os.environ.get("REQUIRE_RABBITMQ", "") not in ("", "0", "false")


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(_pg_server_url())
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_postgres_database() -> str:
    """A brand-new database on the test server; returns its SQLAlchemy URL."""
    name = f"bk_{uuid.uuid4().hex[:16]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, Exception) as exc:  # noqa: BLE001 - any failure means "no server"
        if _require_postgres():
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at TEST_DATABASE_URL: {exc}")
    return make_url(_pg_server_url()).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Runs a test once on a real SQLite file and once on a real PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


# ---------------------------------------------------------------- RabbitMQ (issue 16)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """A real RabbitMQ server (``RABBITMQ_TEST_URL``, default guest on 127.0.0.1:5672). Skipped when it does not
    answer, unless ``REQUIRE_RABBITMQ=1`` (``.ci/run``): then the test fails. Tests isolate themselves with
    their own exchange and queue names."""
    import socket
    from urllib.parse import urlsplit

    url = os.environ.get("RABBITMQ_TEST_URL", DEFAULT_RABBITMQ)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        if _require_rabbitmq():
            pytest.fail(f"RabbitMQ is required (REQUIRE_RABBITMQ=1) but unreachable at {host}:{port}: {exc}")
        pytest.skip(f"RabbitMQ not reachable at RABBITMQ_TEST_URL: {exc}")
    return url
