"""``python -m notification_service.migrate [upgrade|downgrade] [revision]``: the notification database's migrations."""

from __future__ import annotations

import sys
from pathlib import Path

from bakery_shared import migrations
from notification_service.config import NotificationSettings

SCRIPTS = Path(__file__).parent / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    migrations.upgrade(SCRIPTS, url, revision)


def downgrade(url: str, revision: str = "base") -> None:
    migrations.downgrade(SCRIPTS, url, revision)


def main(argv: list[str]) -> int:
    return migrations.command_line(SCRIPTS, NotificationSettings().notification_database_url, argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
