"""Fault injection for ``POST /{version}/{phone_number_id}/messages`` as a pure ASGI middleware, so that it
can hold a request past the client's timeout or drop the connection mid-response."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import GraphError, code_info
from .state import FaultRule, SandboxState

SEND_PATH = re.compile(r"^/v[^/]*/(?P<pnid>[^/]+)/(?P<endpoint>messages|media)/?$")


class FaultInjectionMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = SEND_PATH.match(scope["path"])
        rule = self.state.take_fault(match.group("pnid"), match.group("endpoint")) if match else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        await self.apply(rule, scope, receive, send)

    async def apply(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        if rule.action == "latency":
            await asyncio.sleep(rule.seconds)
            await self.app(scope, receive, send)
            return
        if rule.action == "error":
            await self._send_error(rule, send)
            return
        if rule.action == "timeout":
            await asyncio.sleep(rule.seconds)
        # timeout (after the wait) and drop: optionally process the send, then never answer properly.
        if rule.accept:
            await self.app(scope, receive, _swallow)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"messaging_product":', "more_body": True})
        # Returning now leaves the response incomplete; the server closes the connection.

    @staticmethod
    async def _send_error(rule: FaultRule, send: Send) -> None:
        extra: dict[str, Any] = {}
        if rule.is_transient is not None:
            extra["is_transient"] = rule.is_transient
        error = GraphError(
            code=rule.code,
            message=rule.message,
            details=rule.details if rule.details is not None else _default_details(rule.code),
            http_status=rule.http_status,
            subcode=rule.error_subcode,
            type=rule.error_type,
            extra=extra,
        )
        response = error.response()
        await response({"type": "http"}, _no_receive, send)


def _default_details(code: int) -> str:
    return code_info(code).details


async def _swallow(message: Message) -> None:
    return None


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
