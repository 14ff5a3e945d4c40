from __future__ import annotations

import io
import json
import logging

from httpx import ASGITransport, AsyncClient

from bakery_shared.http import create_service_app
from bakery_shared.logging import configure_logging
from bakery_shared.observability import bind, outbound_headers
from bakery_shared.settings import BaseServiceSettings
from tests.helpers import TEST_JWT_SECRET, Tokens


def app_with_route():
    app = create_service_app(title="t", max_body_bytes=4096, service_name="test-service")
    app.state.settings = BaseServiceSettings(_env_file=None, jwt_secret=TEST_JWT_SECRET)
    seen: dict[str, object] = {}

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        with bind(tenant_id="t-1"):
            logging.getLogger("test.whatsapp").info("whatsapp thing looked up with Bearer abc.def")
        seen.update(outbound_headers())
        return {"id": thing_id}

    return app, seen


async def test_request_id_logs_and_metrics():
    stream = io.StringIO()
    configure_logging("INFO", secrets=["supersecret-value"], service="test-service")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_bakery", False))
    original = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        app, seen = app_with_route()
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            r = await c.get("/things/42", headers={"X-Request-ID": "req-abc-123"})
            assert r.headers["x-request-id"] == "req-abc-123"
            assert seen == {"X-Request-ID": "req-abc-123"}
            r = await c.get("/things/43", headers={"X-Request-ID": "bad id with spaces\n"})
            assert len(r.headers["x-request-id"]) == 32  # replaced by a fresh id
            assert (await c.get("/metrics")).status_code == 401
            m = await c.get("/metrics", headers=Tokens().service())
            assert m.status_code == 200
            assert (
                'http_requests_total{method="GET",route="/things/{thing_id}",service="test-service",status="200"}'
                in m.text
            )
    finally:
        handler.stream = original  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    event = next(line for line in lines if line["logger"] == "test.whatsapp")
    assert event["request_id"] == "req-abc-123" and event["tenant_id"] == "t-1"
    assert event["service"] == "test-service" and "Bearer [REDACTED]" in event["message"]
    access = [line for line in lines if line["logger"] == "test-service.access"]
    assert access and access[0]["route"] == "/things/{thing_id}" and access[0]["status"] == 200
