"""Alembic helpers: each service keeps its own migration scripts and database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection

from bakery_shared.db import create_engine, ensure_sqlite_directory, is_sqlite


def alembic_config(script_location: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(script_location, url), revision)


def downgrade(script_location: Path, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(script_location, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of a service's ``env.py``: runs migrations online through an async engine."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(url),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_engine(url, poolclass=pool.NullPool) if is_sqlite(url) else create_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())


def command_line(script_location: Path, url: str, argv: list[str]) -> int:
    """``python -m <service>.migrate [upgrade|downgrade] [revision]`` for any service."""
    import sys

    action = argv[0] if argv else "upgrade"
    if action == "upgrade":
        upgrade(script_location, url, argv[1] if len(argv) > 1 else "head")
    elif action == "downgrade":
        downgrade(script_location, url, argv[1] if len(argv) > 1 else "base")
    else:
        print(f"unknown action {action!r}; use upgrade or downgrade", file=sys.stderr)
        return 2
    return 0
