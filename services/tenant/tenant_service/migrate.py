"""``python -m tenant_service.migrate [upgrade|downgrade] [revision]``: the tenant database's migrations."""

from __future__ import annotations

import sys
from pathlib import Path

from bakery_shared import migrations
from tenant_service.config import TenantSettings

SCRIPTS = Path(__file__).parent / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    migrations.upgrade(SCRIPTS, url, revision)


def downgrade(url: str, revision: str = "base") -> None:
    migrations.downgrade(SCRIPTS, url, revision)


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "upgrade"
    url = TenantSettings().tenant_database_url
    if action == "upgrade":
        upgrade(url, argv[1] if len(argv) > 1 else "head")
    elif action == "downgrade":
        downgrade(url, argv[1] if len(argv) > 1 else "base")
    else:
        print(f"unknown action {action!r}; use upgrade or downgrade", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
