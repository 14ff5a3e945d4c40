"""``python -m notification_service``: migrate (unless NOTIFICATION_MIGRATE_ON_START=false), then serve on :8002."""

from __future__ import annotations

import uvicorn

from bakery_shared.logging import configure_logging
from notification_service.app import create_app
from notification_service.config import NotificationSettings
from notification_service.migrate import upgrade


def main() -> None:
    settings = NotificationSettings()
    configure_logging(settings.log_level, secrets=settings.log_secrets(), service="notification-service")
    if settings.notification_migrate_on_start:
        upgrade(settings.notification_database_url)
    uvicorn.run(
        create_app(settings),
        host=settings.notification_host,
        port=settings.notification_port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,  # the shared middleware writes one JSON access line per request
    )


if __name__ == "__main__":
    main()
