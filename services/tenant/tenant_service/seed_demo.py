"""``python -m tenant_service.seed_demo``: the ten demo bakeries of ``make run`` (idempotent, none assigned)."""

from __future__ import annotations

import asyncio
import uuid

from bakery_shared.db import create_engine, create_session_factory, transaction
from tenant_service import repository as repo
from tenant_service.config import TenantSettings

#: Fixed ids so that tokens, docs and the dev sign-in page stay the same across runs.
DEMO_BAKERIES: list[tuple[uuid.UUID, str]] = [
    (uuid.UUID(f"00000000-0000-4000-8000-{i:012d}"), name)
    for i, name in enumerate(
        [
            "Panadería Sol",
            "Horno de Lola",
            "Pastelería Luna",
            "Forn de Sant Jordi",
            "Obrador Miga",
            "Panadería La Espiga",
            "Horno San Antonio",
            "Pan de Ayer",
            "Dulces Carmen",
            "La Tahona Azul",
        ],
        start=1,
    )
]


async def seed(url: str) -> int:
    engine = create_engine(url)
    created = 0
    try:
        async with transaction(create_session_factory(engine)) as session:
            for tenant_id, name in DEMO_BAKERIES:
                if await repo.get_tenant(session, tenant_id) is None:
                    await repo.create_tenant(session, name, tenant_id)
                    created += 1
    finally:
        await engine.dispose()
    return created


def main() -> None:
    created = asyncio.run(seed(TenantSettings().tenant_database_url))
    print(f"demo bakeries: {created} created, {len(DEMO_BAKERIES) - created} already there")


if __name__ == "__main__":
    main()
