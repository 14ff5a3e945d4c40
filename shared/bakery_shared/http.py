"""ASGI pieces every service mounts: the body-size limit and the app factory."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bakery_shared.errors import install_error_handlers


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (or the path's own limit in ``paths``) with 413 before the app
    reads them.

    Checks ``Content-Length`` up front; a body with a declared length within the limit is passed through as it is
    (the HTTP server delivers exactly the declared bytes: h11 and httptools both stop the body there), so only
    bodies without a length (chunked uploads) get their streamed chunks counted: one closure pair less per
    request on the hot routes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = dict(paths or {})
        self._rejections = {limit: _rejection(limit) for limit in {max_bytes, *self.paths.values()}}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.max_bytes) if self.paths else self.max_bytes
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None  # not a length: count what arrives
            elif name == b"transfer-encoding":
                chunked = True  # it overrides any Content-Length: count what arrives
        if declared is not None and declared > limit:
            await self._reject(send, limit)
            return
        if declared is not None and not chunked:
            await self.app(scope, receive, send)
            return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not rejected:
                    # Answer 413 now and tell the app the client went away, so it stops reading.
                    rejected = True
                    await self._reject(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _reject(self, send: Send, limit: int) -> None:
        start, body = self._rejections.get(limit) or _rejection(limit)
        await send(start)
        await send(body)


def _rejection(limit: int) -> tuple[Message, Message]:
    """The 413 answer for ``limit``, as its two ASGI messages."""
    body = json.dumps(
        {"detail": f"Request body is larger than the limit of {limit} bytes", "code": "payload_too_large"}
    ).encode()
    return (
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        },
        {"type": "http.response.body", "body": body},
    )


async def read_body(receive: Receive) -> bytes | None:
    """A lean ASGI route's request body, or None when the client went away first (or the body limit cut a streamed
    body off and answered 413 already: :class:`BodySizeLimitMiddleware` reports that as a disconnect).
    ``Request.body()`` raised ``ClientDisconnect`` there: an "unhandled" exception after the answer."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(send: Send, status: int, body: bytes) -> None:
    """A lean ASGI route's answer: ``body`` (JSON, already encoded) with the headers ``JSONResponse`` sends."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "description": "Every error: a human message saying what to fix and a stable machine code.",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "code": {"type": "string", "title": "Code"},
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "title": "Fields",
            "description": "For validation errors: the paths of the fields to fix.",
        },
    },
}
_DOCUMENTED_ERRORS = {
    "401": "Missing, expired or invalid bearer token",
    "403": "Wrong role, or another tenant's data",
    "413": "Request body too large",
}


def _install_error_openapi(app: FastAPI) -> None:
    """Documents the real error body: FastAPI's default 422 schema is not what the shared handler sends."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        components.pop("ValidationError", None)
        components["HTTPValidationError"] = {"$ref": "#/components/schemas/Error"}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or not operation.get("security"):
                    continue
                responses = operation.setdefault("responses", {})
                for status, description in _DOCUMENTED_ERRORS.items():
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        },
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_service_app(
    *,
    title: str,
    version: str = "0.1.0",
    max_body_bytes: int,
    lifespan: Callable[..., Any] | None = None,
    description: str = "",
    service_name: str | None = None,
    body_limits: dict[str, int] | None = None,
    before_scrape: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    """A FastAPI app with the shared error handlers and body limit installed (``body_limits``: a path's own limit
    instead of ``max_body_bytes``).

    With ``service_name``, also request ids, access logs, HTTP metrics and ``/metrics`` (admin or service token;
    ``before_scrape(app)`` runs before each scrape, e.g. to read gauges from the database).
    """
    app = FastAPI(title=title, version=version, lifespan=lifespan, description=description)
    install_error_handlers(app)
    _install_error_openapi(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes, paths=body_limits)
    if service_name:
        from bakery_shared.observability import install_observability

        install_observability(app, service_name, before_scrape=before_scrape)
    return app
