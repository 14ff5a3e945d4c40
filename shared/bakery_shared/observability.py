"""Request ids, structured JSON logs and Prometheus HTTP metrics, shared by every service.

* ``X-Request-ID`` is read from the request (or made up), echoed on the response, put in every log line of the
  request, and sent on outbound calls made while serving it (:func:`outbound_headers`).
* ``tenant_id`` and ``notification_id`` can be bound to the log context with :func:`bind`.
* ``/metrics`` serves prometheus-client's registry (admin or service token).
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bakery_shared.auth import Role, require_roles

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("log_context", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests served", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def current_context() -> dict[str, str]:
    return _context.get() or {}


def current_request_id() -> str | None:
    return current_context().get("request_id")


@contextmanager
def bind(**values: Any) -> Iterator[None]:
    """Adds fields (tenant_id, notification_id, …) to every log line inside the block."""
    token = _context.set({**current_context(), **{k: str(v) for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def outbound_headers() -> dict[str, str]:
    request_id = current_request_id()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def json_formatter(service: str) -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
    )


class RequestContextMiddleware:
    """Request id in, request id out, one access-log line and the HTTP metrics per request.

    Per request it only wraps ``send`` (to add the id and see the status): the metric children are kept per
    (method, route, status) instead of being looked up by label every time, and the access-log line is only built
    when INFO is enabled for it.
    """

    #: Distinct (method, route, status) children kept at most; routes are templates, so this is a guard only.
    MAX_CHILDREN = 4096

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.log = logging.getLogger(f"{service}.access")
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
                break
        if not request_id or not _VALID_REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        token = _context.set({"request_id": request_id})
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self._record(method, template, status, elapsed)
            if template not in ("/health/live", "/metrics") and self.log.isEnabledFor(logging.INFO):
                self.log.info(
                    "%s %s %s %.1fms",
                    method,
                    template,
                    status,
                    elapsed * 1000,
                    extra={
                        "http_method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            _context.reset(token)

    def _record(self, method: str, template: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((method, template, status))
        if counter is None:
            if len(self._counters) >= self.MAX_CHILDREN:
                self._counters.clear()
            counter = self._counters[(method, template, status)] = HTTP_REQUESTS.labels(
                self.service, method, template, str(status)
            )
        counter.inc()
        histogram = self._histograms.get((method, template))
        if histogram is None:
            if len(self._histograms) >= self.MAX_CHILDREN:
                self._histograms.clear()
            histogram = self._histograms[(method, template)] = HTTP_LATENCY.labels(self.service, method, template)
        histogram.observe(elapsed)


def metrics_router(before_scrape: Callable[[FastAPI], Awaitable[None]] | None = None) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=Response, dependencies=[Depends(require_roles(Role.ADMIN, Role.SERVICE))])
    async def metrics(request: Request) -> Response:
        if before_scrape is not None:
            await before_scrape(request.app)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_observability(
    app: FastAPI, service: str, *, before_scrape: Callable[[FastAPI], Awaitable[None]] | None = None
) -> None:
    """Request ids, access logs, HTTP metrics, and ``/metrics`` (``before_scrape(app)`` runs before each scrape,
    only for an authorised caller)."""
    app.add_middleware(RequestContextMiddleware, service=service)
    app.include_router(metrics_router(before_scrape))
