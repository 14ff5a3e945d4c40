"""Small servers the benchmark needs next to the real stack.

* ``trivial``: a FastAPI JSON endpoint (baseline 1), served exactly like the notification service
  (``uvicorn.run(app, log_config=None)``, same log level), taking the same JSON body.
* ``tenants``: the tenant service's internal settings endpoint for many tenants sharing few numbers (the real
  tenant service allows one number per tenant), with ETags like the real one and a call counter
  (``GET /_stats``), for the drain benchmark with 200 tenants on 20 numbers.

``python -m bench.apps trivial PORT`` / ``python -m bench.apps tenants PORT TENANTS.json``
"""

from __future__ import annotations

import hashlib
import json
import sys
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


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "trivial":
        app = trivial_app()
    else:
        with open(sys.argv[3], encoding="utf-8") as fh:
            app = tenants_app(json.load(fh))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)


if __name__ == "__main__":
    main()
