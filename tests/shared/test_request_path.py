"""The shared per-request layers, made cheaper for the hot routes (issue 14), keep their rules: the body limit per
path (one middleware), the request-context middleware's metrics and access log, the scrape hook, role checks."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from fastapi import Body, Depends, FastAPI
from httpx import ASGITransport, AsyncClient
from starlette.types import Message

from bakery_shared.auth import Principal, Role, require_roles
from bakery_shared.http import BodySizeLimitMiddleware, create_service_app
from bakery_shared.settings import BaseServiceSettings
from tests.helpers import TEST_JWT_SECRET, Tokens

SERVICE_OR_ADMIN = require_roles(Role.SERVICE, Role.ADMIN)  # module level: the annotations are strings


def limited_app(before_scrape: Any = None, service: str = "limits-test") -> FastAPI:
    app = create_service_app(
        title="t",
        max_body_bytes=100,
        body_limits={"/big": 1000},
        service_name=service,
        before_scrape=before_scrape,
    )
    app.state.settings = BaseServiceSettings(_env_file=None, jwt_secret=TEST_JWT_SECRET)

    # a JSON string body (FastAPI reads it; ``Request.body()`` raises ClientDisconnect when the limit cuts a
    # streamed body off)
    @app.post("/small")
    async def small(body: Annotated[str, Body()]) -> dict[str, int]:
        return {"size": len(body) + 2}

    @app.post("/big")
    async def big(body: Annotated[str, Body()]) -> dict[str, int]:
        return {"size": len(body) + 2}

    return app


def json_text(total: int) -> bytes:
    """A JSON string of ``total`` bytes."""
    return b'"' + b"x" * (total - 2) + b'"'


def chunks(total: int, size: int = 50) -> Any:
    """``json_text(total)`` streamed without a Content-Length."""
    raw = json_text(total)

    async def gen() -> Any:
        for start in range(0, len(raw), size):
            yield raw[start : start + size]

    return gen()


async def test_one_body_limit_middleware_with_a_limit_per_path() -> None:
    app = limited_app()
    assert [m.cls for m in app.user_middleware].count(BodySizeLimitMiddleware) == 1
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        json_body = {"content-type": "application/json"}
        assert (await c.post("/small", content=json_text(100), headers=json_body)).json() == {"size": 100}
        assert (await c.post("/small", content=json_text(101), headers=json_body)).status_code == 413
        assert (await c.post("/big", content=json_text(1000), headers=json_body)).json() == {"size": 1000}
        too_big = await c.post("/big", content=json_text(1001), headers=json_body)
        assert too_big.status_code == 413
        assert too_big.json() == {
            "detail": "Request body is larger than the limit of 1000 bytes",
            "code": "payload_too_large",
        }
        # streamed bodies (no Content-Length) are counted as they arrive, against the path's limit
        assert (await c.post("/small", content=chunks(150), headers=json_body)).status_code == 413
        assert (await c.post("/big", content=chunks(500), headers=json_body)).json() == {"size": 500}
        assert (await c.post("/big", content=chunks(1500), headers=json_body)).status_code == 413


async def _call(middleware: BodySizeLimitMiddleware, headers: list[tuple[bytes, bytes]], body: bytes) -> list[Message]:
    sent: list[Message] = []
    delivered = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return delivered.pop(0) if delivered else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    await middleware(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    "headers",
    [
        [(b"transfer-encoding", b"chunked")],
        [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")],  # the length does not count then
        [(b"content-length", b"ten")],
    ],
)
async def test_bodies_without_a_usable_length_are_counted(headers: list[tuple[bytes, bytes]]) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] == "http.request":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"read"})

    sent = await _call(BodySizeLimitMiddleware(app, max_bytes=100), headers, b"x" * 101)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    sent = await _call(BodySizeLimitMiddleware(app, max_bytes=100), headers, b"x" * 100)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]


async def test_metrics_and_access_log_per_request(caplog: pytest.LogCaptureFixture) -> None:
    app = limited_app(service="metrics-test")  # the registry is process-wide: a service name of its own
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        with caplog.at_level(logging.WARNING, logger="metrics-test.access"):
            await c.post("/small", json="a")
        assert not [r for r in caplog.records if r.name == "metrics-test.access"]  # INFO off: no line
        with caplog.at_level(logging.INFO, logger="metrics-test.access"):
            for _ in range(3):
                await c.post("/small", json="a")
            await c.post("/small", content=json_text(101))
        lines = [(r.route, r.status) for r in caplog.records if r.name == "metrics-test.access"]  # type: ignore[attr-defined]
        # a declared length over the limit is refused before routing: its route is "unmatched"
        assert lines == [("/small", 200)] * 3 + [("unmatched", 413)]
        text = (await c.get("/metrics", headers=Tokens().service())).text
    # the cached metric children keep counting (4 x 200 with the one before the log was on)
    assert 'http_requests_total{method="POST",route="/small",service="metrics-test",status="200"} 4.0' in text
    assert 'http_requests_total{method="POST",route="unmatched",service="metrics-test",status="413"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/small",service="metrics-test"} 4.0' in text


async def test_the_scrape_hook_runs_only_for_an_authorised_scrape() -> None:
    calls: list[FastAPI] = []

    async def before_scrape(app: FastAPI) -> None:
        calls.append(app)

    app = limited_app(before_scrape)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 401
        assert (
            await c.get("/metrics", headers=Tokens().owner("0e0e0e0e-0000-0000-0000-000000000001"))
        ).status_code == 403
        assert calls == []  # an anonymous caller cannot make the service read its database
        assert (await c.get("/metrics", headers=Tokens().admin())).status_code == 200
    assert calls == [app]


async def test_role_check_is_one_dependency_with_the_same_answers() -> None:
    app = create_service_app(title="t", max_body_bytes=1000)
    app.state.settings = BaseServiceSettings(_env_file=None, jwt_secret=TEST_JWT_SECRET)

    @app.get("/guarded")
    async def guarded(principal: Annotated[Principal, Depends(SERVICE_OR_ADMIN)]) -> dict[str, str]:
        return {"role": principal.role.value}

    tokens = Tokens()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/guarded", headers=tokens.service())).json() == {"role": "service"}
        assert (await c.get("/guarded", headers=tokens.admin())).json() == {"role": "admin"}
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, {"Authorization": " x"}):
            r = await c.get("/guarded", headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "missing_token", headers
            assert r.headers["www-authenticate"] == "Bearer"
        r = await c.get("/guarded", headers={"Authorization": "Bearer not-a-jwt"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_token"
        r = await c.get("/guarded", headers=tokens.expired())
        assert r.status_code == 401 and r.json()["code"] == "token_expired"
        r = await c.get("/guarded", headers=tokens.owner("0e0e0e0e-0000-0000-0000-000000000001"))
        assert r.status_code == 403
        assert r.json() == {"detail": "This endpoint needs the service or admin role", "code": "wrong_role"}
    schema = app.openapi()
    assert schema["paths"]["/guarded"]["get"]["security"] == [{"HTTPBearer": []}]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
