"""Logging set-up shared by the services: one line per event, secrets redacted."""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+", re.IGNORECASE),
    re.compile(r"(access_token=)[^&\s]+", re.IGNORECASE),
    # Meta access tokens (also one rotated in through the token file after start-up) and any JWT.
    re.compile(r"()\bEAA[A-Za-z0-9]{20,}"),
    re.compile(r"()\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{10,}"),
]


class RedactSecretsFilter(logging.Filter):
    """Removes bearer tokens and any configured secret value from every log record."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern in _SECRET_PATTERNS:
            redacted = pattern.sub(r"\1[REDACTED]", redacted)
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[REDACTED]")
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def configure_logging(
    level: str = "INFO", secrets: list[str] | None = None, *, service: str = "bakery", json_logs: bool = True
) -> None:
    """One line per event on stderr: JSON with request id and bound context, secrets redacted."""
    from bakery_shared.observability import ContextFilter, json_formatter

    root = logging.getLogger()
    root.setLevel(level.upper())
    handler = next((h for h in root.handlers if getattr(h, "_bakery", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._bakery = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(
        json_formatter(service) if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.filters = []
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter(secrets))
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
