"""Logging set-up shared by the services: one line per event, secrets redacted.

:func:`redact` is the one redaction function of the code base: the log filter below uses it, and so does the
Graph client for everything Meta answers (Meta's code-190 message may echo the access token) before it is stored,
logged or returned.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+", re.IGNORECASE),
    re.compile(r"(access_token=)[^&\s]+", re.IGNORECASE),
    # Meta access tokens (also one rotated in through the token file after start-up) and any JWT.
    re.compile(r"()\bEAA[A-Za-z0-9]{20,}"),
    re.compile(r"()\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{10,}"),
]
#: Shorter values are too likely to occur in ordinary text to be replaced everywhere.
MIN_SECRET_LENGTH = 6
_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Adds a secret that :func:`redact` removes from now on (e.g. the access token read after a rotation)."""
    if value and len(value) >= MIN_SECRET_LENGTH and value not in _registered:
        with _registered_lock:
            _registered.add(value)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without bearer tokens, ``access_token=`` values, Meta token and JWT shapes, the registered
    secrets and ``secrets``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1" + REDACTED, text)
    # longest first, so a secret that contains another is removed whole
    for secret in sorted({*_registered, *secrets}, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_data(value: Any, secrets: Iterable[str] = ()) -> Any:
    """:func:`redact` applied to every string (keys too) of a JSON-like value."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, secrets) for v in value]
    return value


# Attributes every LogRecord has; anything else on a record came in through ``extra=`` and is redacted too.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactSecretsFilter(logging.Filter):
    """Removes bearer tokens and any configured secret value from every log record: the message, the ``extra``
    string fields, the traceback (formatted here, redacted, and kept in ``exc_text``) and the stack."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s and len(s) >= MIN_SECRET_LENGTH]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self.secrets)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info:
            # Formatters use ``exc_text`` when ``exc_info`` is gone (logging.Formatter and python-json-logger).
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, self.secrets)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, redact(value, self.secrets))
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
