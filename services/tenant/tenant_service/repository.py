"""SQL of the tenant service. Every function takes the caller's session (the caller owns the transaction).

Lock order, the same in every write transaction (PostgreSQL would otherwise detect deadlocks between them):
first the ``tenants`` row (:func:`lock_tenant`), then the ``whatsapp_accounts`` row (:func:`lock_account`), then
``phone_assignments``, then the ``tenant_settings`` row (:func:`get_notification_settings` with ``for_update``).
On SQLite the whole database is locked up front (``BEGIN IMMEDIATE``, see ``bakery_shared.db.transaction``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.db import fit, utcnow
from tenant_service.models import (
    account_audit,
    audit_log,
    phone_assignments,
    tenant_settings,
    tenants,
    whatsapp_accounts,
)


@dataclass(frozen=True)
class TenantRow:
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Assignment:
    phone_number_id: str
    tenant_id: uuid.UUID
    display_phone_number: str
    waba_id: str
    assigned_by: str
    assigned_at: datetime


def _tenant(row: Any) -> TenantRow:
    return TenantRow(id=row.id, name=row.name, created_at=row.created_at, updated_at=row.updated_at)


def _assignment(row: Any) -> Assignment:
    return Assignment(
        phone_number_id=row.phone_number_id,
        tenant_id=row.tenant_id,
        display_phone_number=row.display_phone_number,
        waba_id=row.waba_id,
        assigned_by=row.assigned_by,
        assigned_at=row.assigned_at,
    )


async def create_tenant(session: AsyncSession, name: str, tenant_id: uuid.UUID | None = None) -> TenantRow:
    now = utcnow()
    row = TenantRow(id=tenant_id or uuid.uuid4(), name=name, created_at=now, updated_at=now)
    await session.execute(insert(tenants).values(id=row.id, name=name, created_at=now, updated_at=now))
    await session.execute(
        insert(tenant_settings).values(
            tenant_id=row.id,
            general_settings={},
            notification_settings={},
            procurement_settings={},
            version=1,
            updated_at=now,
        )
    )
    return row


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> TenantRow | None:
    row = (await session.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
    return _tenant(row) if row else None


async def count_tenants(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(tenants))).scalar_one())


async def list_tenants(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[TenantRow], int]:
    total = await count_tenants(session)
    rows = (
        await session.execute(select(tenants).order_by(tenants.c.name, tenants.c.id).limit(limit).offset(offset))
    ).all()
    return [_tenant(r) for r in rows], int(total)


async def get_notification_settings(
    session: AsyncSession, tenant_id: uuid.UUID, *, for_update: bool = False
) -> tuple[dict[str, Any], int] | None:
    stmt = select(tenant_settings.c.notification_settings, tenant_settings.c.version).where(
        tenant_settings.c.tenant_id == tenant_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return dict(row.notification_settings or {}), int(row.version)


async def save_notification_settings(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> None:
    now = utcnow()
    await session.execute(
        update(tenant_settings)
        .where(tenant_settings.c.tenant_id == tenant_id)
        .values(notification_settings=data, version=tenant_settings.c.version + 1, updated_at=now)
    )
    await session.execute(update(tenants).where(tenants.c.id == tenant_id).values(updated_at=now))


async def lock_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> TenantRow | None:
    """Reads the tenant row and, on PostgreSQL, locks it for the rest of the transaction (the first lock taken)."""
    row = (await session.execute(select(tenants).where(tenants.c.id == tenant_id).with_for_update())).first()
    return _tenant(row) if row else None


async def assignment_of_number(session: AsyncSession, phone_number_id: str) -> Assignment | None:
    row = (
        await session.execute(select(phone_assignments).where(phone_assignments.c.phone_number_id == phone_number_id))
    ).first()
    return _assignment(row) if row else None


async def assignment_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Assignment | None:
    row = (await session.execute(select(phone_assignments).where(phone_assignments.c.tenant_id == tenant_id))).first()
    return _assignment(row) if row else None


async def all_assignments(session: AsyncSession) -> dict[str, Assignment]:
    rows = (await session.execute(select(phone_assignments))).all()
    return {r.phone_number_id: _assignment(r) for r in rows}


async def tenant_names(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = (await session.execute(select(tenants.c.id, tenants.c.name).where(tenants.c.id.in_(ids)))).all()
    return {r.id: r.name for r in rows}


async def insert_assignment(session: AsyncSession, assignment: Assignment) -> None:
    await session.execute(
        insert(phone_assignments).values(
            phone_number_id=assignment.phone_number_id,
            tenant_id=assignment.tenant_id,
            display_phone_number=assignment.display_phone_number,
            waba_id=assignment.waba_id,
            assigned_by=fit(assignment.assigned_by, phone_assignments.c.assigned_by),
            assigned_at=assignment.assigned_at,
        )
    )


async def delete_assignment(session: AsyncSession, phone_number_id: str) -> None:
    await session.execute(delete(phone_assignments).where(phone_assignments.c.phone_number_id == phone_number_id))


async def add_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    tenant_id: uuid.UUID,
    old: Assignment | None,
    new_phone_number_id: str | None,
    new_display: str | None,
) -> None:
    await session.execute(
        insert(audit_log).values(
            at=utcnow(),
            actor=fit(actor, audit_log.c.actor),
            action=action,
            tenant_id=tenant_id,
            old_phone_number_id=old.phone_number_id if old else None,
            old_display_phone_number=old.display_phone_number if old else None,
            new_phone_number_id=new_phone_number_id,
            new_display_phone_number=new_display,
        )
    )


async def list_audit(
    session: AsyncSession, *, tenant_id: uuid.UUID | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    stmt = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit).offset(offset)
    if tenant_id is not None:
        stmt = stmt.where(audit_log.c.tenant_id == tenant_id)
    return [dict(r._mapping) for r in (await session.execute(stmt)).all()]


async def tenants_with_settings(
    session: AsyncSession, *, limit: int, offset: int
) -> list[tuple[TenantRow, dict[str, Any]]]:
    stmt = (
        select(tenants, tenant_settings.c.notification_settings)
        .join(tenant_settings, tenant_settings.c.tenant_id == tenants.c.id)
        .order_by(tenants.c.name, tenants.c.id)
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(stmt)).all()
    return [(_tenant(r), dict(r.notification_settings or {})) for r in rows]


@dataclass(frozen=True)
class AccountRow:
    waba_id: str
    display_name: str
    kind: str
    token_ref: str
    portfolio_id: str
    tenant_id: uuid.UUID | None
    max_numbers: int
    daily_limit: int | None
    status: str
    created_at: datetime
    created_by: str
    retired_at: datetime | None


def _account(row: Any) -> AccountRow:
    return AccountRow(**{name: getattr(row, name) for name in AccountRow.__dataclass_fields__})


async def list_accounts(session: AsyncSession) -> list[AccountRow]:
    stmt = select(whatsapp_accounts).order_by(whatsapp_accounts.c.created_at, whatsapp_accounts.c.waba_id)
    return [_account(r) for r in (await session.execute(stmt)).all()]


async def get_account(session: AsyncSession, waba_id: str) -> AccountRow | None:
    row = (await session.execute(select(whatsapp_accounts).where(whatsapp_accounts.c.waba_id == waba_id))).first()
    return _account(row) if row else None


async def lock_account(session: AsyncSession, waba_id: str, *, share: bool = False) -> AccountRow | None:
    """Reads the account row and, on PostgreSQL, locks it: ``share`` for an assignment (several may run at once),
    exclusively for a retirement (which then waits for them, and they for it)."""
    stmt = select(whatsapp_accounts).where(whatsapp_accounts.c.waba_id == waba_id).with_for_update(read=share)
    row = (await session.execute(stmt)).first()
    return _account(row) if row else None


async def insert_account(session: AsyncSession, account: AccountRow) -> None:
    values = {name: getattr(account, name) for name in AccountRow.__dataclass_fields__}
    values["created_by"] = fit(account.created_by, whatsapp_accounts.c.created_by)
    await session.execute(insert(whatsapp_accounts).values(**values))


async def retire_account(session: AsyncSession, waba_id: str, at: datetime) -> None:
    await session.execute(
        update(whatsapp_accounts).where(whatsapp_accounts.c.waba_id == waba_id).values(status="retired", retired_at=at)
    )


async def assignments_of_account(session: AsyncSession, waba_id: str) -> list[Assignment]:
    stmt = select(phone_assignments).where(phone_assignments.c.waba_id == waba_id)
    return [_assignment(r) for r in (await session.execute(stmt.order_by(phone_assignments.c.assigned_at))).all()]


async def assigned_counts(session: AsyncSession) -> dict[str, int]:
    stmt = select(phone_assignments.c.waba_id, func.count()).group_by(phone_assignments.c.waba_id)
    return {r[0]: int(r[1]) for r in (await session.execute(stmt)).all()}


async def add_account_audit(session: AsyncSession, *, actor: str, action: str, waba_id: str, detail: str) -> None:
    await session.execute(
        insert(account_audit).values(
            at=utcnow(),
            actor=fit(actor, account_audit.c.actor),
            action=action,
            waba_id=waba_id,
            detail=fit(detail, account_audit.c.detail),
        )
    )


async def list_account_audit(session: AsyncSession, *, limit: int, offset: int) -> list[dict[str, Any]]:
    stmt = select(account_audit).order_by(account_audit.c.at.desc(), account_audit.c.id.desc())
    return [dict(r._mapping) for r in (await session.execute(stmt.limit(limit).offset(offset))).all()]


async def ping(session: AsyncSession) -> None:
    await session.execute(select(1))
