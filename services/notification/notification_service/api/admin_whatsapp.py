"""Admin views of WhatsApp delivery: number quality and holds, templates, costs, usage, hold release, sync."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query

from bakery_shared.auth import AdminOrOwner, AdminPrincipal, ensure_tenant_access
from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import AppError, NotFound, ServiceUnavailable
from notification_service.domain.decisions import ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY, PHONE_NUMBER_SCOPE
from notification_service.domain.whatsapp_state import number_hold_reason, template_action
from notification_service.models import sending_holds
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.runtime import Runtime, get_runtime
from notification_service.services import reports
from notification_service.services import whatsapp_state as state_service
from notification_service.services.sync import SyncBusy

router = APIRouter(prefix="/api/v1/admin/whatsapp", tags=["admin whatsapp"])
tenant_router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])

Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC); default this month")]


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _hold_out(h: dict[str, Any]) -> dict[str, Any]:
    return {"kind": h["kind"], "reason": h["reason"], "since": _iso(h["created_at"]), "error_code": h["error_code"]}


@router.get("/quality")
async def quality(_: AdminPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Per number: quality rating, messaging limit, status, held or not and why, last change."""
    async with runtime.sessions() as session:
        numbers = await state_repo.list_numbers(session)
        holds = await holds_repo.active_holds(session)
    by_number: dict[str, list[dict[str, Any]]] = {}
    for h in holds:
        if h["scope"] == PHONE_NUMBER_SCOPE:
            by_number.setdefault(h["scope_key"], []).append(h)
    known = {n["phone_number_id"] for n in numbers}
    rows = numbers + [{"phone_number_id": k} for k in sorted(by_number) if k not in known]
    out = []
    for n in rows:
        pnid = n["phone_number_id"]
        number_holds = by_number.get(pnid, [])
        out.append(
            {
                "phone_number_id": pnid,
                "display_phone_number": n.get("display_phone_number"),
                "verified_name": n.get("verified_name"),
                "quality_rating": n.get("quality_rating"),
                "messaging_limit": n.get("messaging_limit_tier"),
                "status": n.get("status"),
                "throughput_level": n.get("throughput_level"),
                "held": bool(number_holds),
                "hold_reason": number_holds[0]["reason"] if number_holds else None,
                "holds": [_hold_out(h) for h in number_holds],
                "risk": number_hold_reason(n.get("quality_rating"), n.get("status")),
                "admin_override": bool(n.get("admin_override")),
                "last_event": n.get("last_event"),
                "last_event_at": _iso(n.get("last_event_at")),
                "synced_at": _iso(n.get("synced_at")),
                "updated_at": _iso(n.get("updated_at")),
            }
        )
    account = [_hold_out(h) for h in holds if h["scope"] == ACCOUNT_SCOPE]
    sync = runtime.sync
    return {
        "numbers": out,
        "account": {"held": bool(account), "holds": account},
        "last_sync_at": _iso(sync.last_run) if sync else None,
    }


@router.get("/templates")
async def templates(_: AdminPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Templates with their status per language, as last synced or reported by webhooks."""
    async with runtime.sessions() as session:
        rows = await state_repo.list_templates(session)
    grouped: dict[str, dict[str, Any]] = {}
    for r in rows:
        item = grouped.setdefault(r["name"], {"name": r["name"], "category": r["category"], "languages": []})
        item["category"] = item["category"] or r["category"]
        item["languages"].append(
            {
                "language": r["language"],
                "status": r["status"],
                "action": template_action(r["status"]).value,
                "reason": r["reason"],
                "template_id": r["template_id"],
                "updated_at": _iso(r["updated_at"]),
                "synced_at": _iso(r["synced_at"]),
            }
        )
    sync = runtime.sync
    return {"templates": list(grouped.values()), "last_sync_at": _iso(sync.last_run) if sync else None}


@router.get("/costs")
async def costs(
    _: AdminPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    month: Month = None,
    tenant_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await reports.costs(session, month=month, tenant_id=tenant_id, now=utcnow())


@router.get("/usage")
async def usage(_: AdminPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await reports.usage(session, runtime.settings, tenant_id=None, now=utcnow())


@router.post("/holds/{phone_number_id}/release")
async def release(
    phone_number_id: Annotated[
        str, Path(pattern=r"^([0-9]{1,64}|account)$", description="Meta's phone number id, or account")
    ],
    principal: AdminPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> dict[str, Any]:
    """Lift every hold on a number (``account`` as the id: the account-wide holds); its held messages resume.

    A quality hold released here is not placed again while the number stays in the state the admin saw;
    it is placed again if the number recovers and later drops again.
    """
    now = utcnow()
    account = phone_number_id == "account"
    scope, key = (ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY) if account else (PHONE_NUMBER_SCOPE, phone_number_id)
    H = sending_holds
    async with transaction(runtime.sessions) as session:
        kinds = [
            r[0]
            for r in (await session.execute(sa.select(H.c.kind).where(H.c.scope == scope, H.c.scope_key == key))).all()
        ]
        if not kinds:
            raise NotFound(f"No hold on {phone_number_id}", code="no_hold")
        override = False
        if not account:
            row = await state_repo.get_number(session, phone_number_id, lock=True)
            if row is not None and number_hold_reason(row["quality_rating"], row["status"]):
                override = True
                await state_repo.upsert_number(
                    session, phone_number_id, {"admin_override": True, "override_by": principal.sub[:128]}, now
                )
        requeued = 0
        for kind in kinds:
            requeued += await holds_repo.release_hold(session, scope=scope, scope_key=key, kind=kind, now=now)
        await state_service.refresh_held_numbers_gauge(session)
    runtime.wakeup.notify()
    return {
        "phone_number_id": phone_number_id,
        "released": sorted(kinds),
        "requeued": requeued,
        "admin_override": override,
        "released_by": principal.sub,
    }


@router.post("/sync")
async def sync_now(_: AdminPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Sync numbers and templates from the Graph API now (also runs every WHATSAPP_SYNC_INTERVAL_SECONDS)."""
    if runtime.sync is None:
        raise ServiceUnavailable("The WhatsApp sync is not available", code="sync_unavailable")
    try:
        return await runtime.sync.run_once(manual=True)
    except SyncBusy as exc:
        raise TooManyRequests(str(exc)) from exc


@tenant_router.get("/{tenant_id}/whatsapp/costs")
async def tenant_costs(
    tenant_id: uuid.UUID,
    principal: AdminOrOwner,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    month: Month = None,
) -> dict[str, Any]:
    """The same shape as the admin report, with only this tenant."""
    ensure_tenant_access(principal, tenant_id)
    async with runtime.sessions() as session:
        return await reports.costs(session, month=month, tenant_id=tenant_id, now=utcnow())


@tenant_router.get("/{tenant_id}/whatsapp/usage")
async def tenant_usage(
    tenant_id: uuid.UUID, principal: AdminOrOwner, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> dict[str, Any]:
    ensure_tenant_access(principal, tenant_id)
    async with runtime.sessions() as session:
        return await reports.usage(session, runtime.settings, tenant_id=tenant_id, now=utcnow())
