from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tenant_service.api.deps import Service

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(service: Service) -> JSONResponse:
    try:
        await service.ready()
    except Exception as exc:  # noqa: BLE001 - readiness reports any database failure
        return JSONResponse(
            {"status": "unavailable", "checks": {"database": f"error: {type(exc).__name__}"}}, status_code=503
        )
    missing = service.directory_missing()
    return JSONResponse(
        {
            "status": "ok",
            "checks": {
                "database": "ok",
                "whatsapp_master_account": "configured"
                if not missing
                else "not configured: missing " + ", ".join(missing),
            },
        }
    )
