"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from notification_service.runtime import RuntimeDep
from notification_service.services.health import readiness

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, Any]:
    return {"status": "ok", "service": "notification"}


@router.get("/ready")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    ok, body = await readiness(runtime)
    return JSONResponse(body, status_code=200 if ok else 503)
