"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from bakery_shared.auth import Principal, Role, optional_principal
from notification_service.runtime import RuntimeDep
from notification_service.services.health import public_view, readiness

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, Any]:
    return {"status": "ok", "service": "notification"}


@router.get("/ready")
async def ready(
    runtime: RuntimeDep,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> JSONResponse:
    """200 ready (or degraded), 503 not ready. Without an admin or service token only the names of the components
    that are not ready; with one, every check and its reason."""
    ok, body = await readiness(runtime)
    if principal is None or principal.role not in (Role.ADMIN, Role.SERVICE):
        body = public_view(body)
    return JSONResponse(body, status_code=200 if ok else 503)
