"""One error hierarchy, rendered by one handler to ``{"detail": "...", "code": "..."}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("bakery.errors")


class AppError(Exception):
    """Base of every error a service reports to its callers."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers

    def to_body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str = "A valid bearer token is required", *, code: str | None = None):
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class InvalidInput(AppError):
    """422 for input that parsed but breaks a rule; ``field`` names what to fix."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None):
        super().__init__(f"{field}: {detail}" if field else detail, code=code)
        self.field = field


class TooManyRequests(AppError):
    """429: a quota is used up; ``retry_after`` (seconds) goes out as ``Retry-After``."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class UpstreamError(AppError):
    """502: an upstream (Meta's Graph API, another service) said no or misbehaved."""

    status_code = 502
    code = "upstream_error"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


def printable(text: str) -> str:
    """``text`` safe to encode as UTF-8: a lone surrogate (from a JSON ``"\\ud800"`` escape) becomes ``\\ud800``
    instead of making the error response itself fail with a 500."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return printable(".".join(str(part) for part in loc) or "body")


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming every field to fix (at most ten), for a 422 or any other channel's rejection."""
    parts = []
    for err in errors[:10]:
        kind = err.get("type", "")
        path = field_path(err.get("loc", ()))
        if kind == "json_invalid":
            ctx = err.get("ctx") or {}
            parts.append(f"request body is not valid JSON ({ctx.get('error', 'parse error')})")
        elif kind == "extra_forbidden":
            parts.append(f"{path}: unknown field, remove it")
        elif kind == "missing":
            parts.append(f"{path}: field required")
        else:
            msg = str(err.get("msg", "invalid value"))
            msg = msg.removeprefix("Value error, ")
            parts.append(f"{path}: {msg}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        body = {k: printable(v) if isinstance(v, str) else v for k, v in exc.to_body().items()}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        fields = [field_path(e.get("loc", ())) for e in errors]
        return JSONResponse(
            {"detail": printable(validation_message(errors)), "code": "validation_error", "fields": fields},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return JSONResponse(
            {"detail": str(exc.detail), "code": codes.get(exc.status_code, "http_error")},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse({"detail": "Internal server error", "code": "internal_error"}, status_code=500)
