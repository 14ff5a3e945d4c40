"""``python -m notification_service``: migrate (unless NOTIFICATION_MIGRATE_ON_START=false), then serve on :8002."""

from __future__ import annotations

import gc

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
    app = create_app(settings)
    # Everything imported and built so far lives as long as the process: move it out of the garbage collector's
    # reach, so collections triggered by each request's allocations no longer walk ~150,000 long-lived objects
    # (0.1-0.25 ms of CPU per webhook POST, measured in-process).
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.notification_host,
        port=settings.notification_port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,  # the shared middleware writes one JSON access line per request
    )


if __name__ == "__main__":
    main()
