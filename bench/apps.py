"""Small servers the benchmark needs next to the real stack.

* ``trivial``: a FastAPI JSON endpoint (baseline 1), served exactly like the notification service
  (``uvicorn.run(app, log_config=None)``, same log level), taking the same JSON body.
* ``tenants``: the tenant service's internal settings endpoint for many tenants sharing few numbers (the real
  tenant service allows one number per tenant), with ETags like the real one and a call counter
  (``GET /_stats``), for the drain benchmark with 200 tenants on 20 numbers.
* ``graph``: a bare fake Graph API, the design's denominator (issue 14): ``POST /{version}/{id}/messages``
  answers Meta's exact success body for a template send (``contacts[].input/wa_id``, ``messages[].id`` a unique
  ``wamid.…``, ``message_status: accepted``); no webhooks, no state, no validation. The reads a dispatcher can
  make (hold probes: ``GET /{version}/{number}``, ``GET /{version}/{waba}/phone_numbers``; the API's sync:
  ``…/message_templates``) answer the sandbox seed's shapes. A raw asyncio protocol on uvloop with httptools'
  parser (what uvicorn uses underneath, without the ASGI layers), so that it is never the bottleneck:
  ``GET /_stats`` gives its request count and CPU seconds.

``python -m bench.apps trivial PORT`` / ``python -m bench.apps tenants PORT TENANTS.json`` /
``python -m bench.apps graph PORT [NUMBER_ID ...]``
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


def trivial_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/events/purchase-orders", status_code=202)
    async def accept(body: dict[str, Any]) -> dict[str, str]:
        return {"status": "queued", "notification_id": str(body.get("event_id"))}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


def tenants_app(tenants: dict[str, dict[str, Any]]) -> FastAPI:
    app = FastAPI()
    calls = {"settings": 0, "not_modified": 0}

    @app.get("/internal/v1/tenants/{tenant_id}/notification-settings")
    async def settings(tenant_id: str, request: Request) -> Response:
        calls["settings"] += 1
        payload = tenants.get(tenant_id)
        if payload is None:
            return JSONResponse({"error": {"code": "not_found"}}, status_code=404)
        etag = '"' + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32] + '"'
        if etag in request.headers.get("if-none-match", ""):
            calls["not_modified"] += 1
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(payload, headers={"ETag": etag})

    @app.get("/_stats")
    async def stats() -> dict[str, int]:
        return calls

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


# ---------------------------------------------------------------------------------------------- bare fake Graph

_JSON_HEADERS = b"Content-Type: application/json\r\nContent-Length: "


class FakeGraph:
    """What the bare fake answers; the protocol below only parses HTTP and writes the bytes."""

    def __init__(self, numbers: list[str]) -> None:
        self.numbers = numbers
        self.prefix = os.urandom(4).hex().upper()  # wamids unique across restarts too
        self.sent = 0
        self.requests = 0
        self.cpu0 = time.process_time()

    def wamid(self, wa_id: str) -> str:
        self.sent += 1
        raw = b"\x1c\x18" + bytes([len(wa_id) & 0xFF]) + wa_id.encode() + f"{self.prefix}{self.sent:012X}".encode()
        return "wamid." + base64.b64encode(raw).decode()

    def number(self, number_id: str) -> dict[str, Any]:
        return {
            "id": number_id,
            "display_phone_number": f"+34 612 346 {int(number_id) % 1000:03d}" if number_id.isdigit() else "",
            "verified_name": "Bench Bakery",
            "quality_rating": "GREEN",
            "status": "CONNECTED",
            "code_verification_status": "VERIFIED",
            "name_status": "APPROVED",
            "messaging_limit_tier": "TIER_UNLIMITED",
            "whatsapp_business_manager_messaging_limit": "TIER_UNLIMITED",
            "throughput": {"level": "STANDARD"},
        }

    def answer(self, method: bytes, path: str, body: bytes) -> tuple[int, bytes]:
        self.requests += 1
        parts = path.split("?", 1)[0].strip("/").split("/")
        if method == b"POST" and len(parts) == 3 and parts[2] == "messages":
            try:
                to = str(json.loads(body)["to"])
            except (ValueError, KeyError, TypeError):
                return (
                    400,
                    b'{"error":{"message":"(#100) The parameter to is required.","type":"OAuthException",'
                    b'"code":100,"fbtrace_id":"bench"}}',
                )
            wa_id = "".join(ch for ch in to if ch.isdigit())
            answer = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": self.wamid(wa_id), "message_status": "accepted"}],
            }
            return 200, json.dumps(answer, separators=(",", ":")).encode()
        if method == b"GET":
            if parts == ["health", "live"]:
                return 200, b'{"status":"ok"}'
            if parts == ["_stats"]:
                cpu = time.process_time() - self.cpu0
                return 200, json.dumps({"requests": self.requests, "sent": self.sent, "cpu_seconds": cpu}).encode()
            if len(parts) == 3 and parts[2] == "phone_numbers":
                return 200, json.dumps({"data": [self.number(n) for n in self.numbers]}).encode()
            if len(parts) == 3 and parts[2] == "message_templates":
                from wa_sandbox.seed import load_seed

                fields = ("id", "name", "language", "status", "category", "components")
                data = [{k: t.get(k) for k in fields} for t in load_seed()["templates"]]
                return 200, json.dumps({"data": data}).encode()
            if len(parts) == 2:
                return 200, json.dumps(self.number(parts[1])).encode()
        return 400, b'{"error":{"message":"Unsupported request","type":"GraphMethodException","code":100}}'


class GraphProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive over httptools' parser; one request answered at a time per connection."""

    def __init__(self, graph: FakeGraph) -> None:
        import httptools

        self.graph = graph
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:  # noqa: BLE001 - garbage or an upgrade: drop the connection
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status, payload = self.graph.answer(self.parser.get_method(), self.url.decode(), b"".join(self.body))
        self.url, self.body = b"", []
        keep_alive = self.parser.should_keep_alive()
        head = b"HTTP/1.1 200 OK\r\n" if status == 200 else b"HTTP/1.1 400 Bad Request\r\n"
        tail = b"\r\n\r\n" if keep_alive else b"\r\nConnection: close\r\n\r\n"
        if self.transport is not None:
            self.transport.write(head + _JSON_HEADERS + str(len(payload)).encode() + tail + payload)
            if not keep_alive:
                self.transport.close()


def serve_graph(port: int, numbers: list[str]) -> None:
    import uvloop

    graph = FakeGraph(numbers)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: GraphProtocol(graph), "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "graph":
        serve_graph(port, sys.argv[3:])
        return
    if kind == "trivial":
        app = trivial_app()
    else:
        with open(sys.argv[3], encoding="utf-8") as fh:
            app = tenants_app(json.load(fh))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)


if __name__ == "__main__":
    main()
