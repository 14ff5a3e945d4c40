"""ASGI pieces every service mounts: the body-size limit and the app factory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bakery_shared.errors import install_error_handlers


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 before the app reads them.

    Checks ``Content-Length`` up front and counts streamed chunks for chunked uploads.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not rejected:
                    # Answer 413 now and tell the app the client went away, so it stops reading.
                    rejected = True
                    await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "detail": f"Request body is larger than the limit of {self.max_bytes} bytes",
                "code": "payload_too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_service_app(
    *,
    title: str,
    version: str = "0.1.0",
    max_body_bytes: int,
    lifespan: Callable[..., Any] | None = None,
    description: str = "",
    service_name: str | None = None,
) -> FastAPI:
    """A FastAPI app with the shared error handlers and body limit installed.

    With ``service_name``, also request ids, access logs, HTTP metrics and ``/metrics`` (admin or service token).
    """
    app = FastAPI(title=title, version=version, lifespan=lifespan, description=description)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    if service_name:
        from bakery_shared.observability import install_observability

        install_observability(app, service_name)
    return app
