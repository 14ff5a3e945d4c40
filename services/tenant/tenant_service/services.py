"""Rules of the tenant service: settings, phone assignment, tenants. Routers stay thin and call these."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.accounts import SETTINGS_TOKEN_REF
from bakery_shared.auth import Principal
from bakery_shared.contracts import InternalNotificationSettings, NotificationSettings, WhatsAppAccount
from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import AppError, Conflict, InvalidInput, NotFound
from tenant_service import repository as repo
from tenant_service.notifier import SettingsChangeNotifier
from tenant_service.phone_directory import MasterNumber, PhoneDirectory, digits

log = logging.getLogger("tenant.whatsapp")

#: Message languages the templates exist in (Spanish and its co-official languages, plus English).
SUPPORTED_LANGUAGES = ("es", "en", "ca", "eu", "gl")
OWNER_EDITABLE = frozenset(
    {
        "whatsapp_enabled",
        "whatsapp_default_language",
        "enable_po_notifications",
        "enable_inventory_alerts",
        "enable_production_alerts",
        "staff_numbers",
    }
)
READ_ONLY_FOR_OWNERS = ("whatsapp_phone_number_id", "whatsapp_display_phone_number")


def read_settings(stored: dict[str, Any]) -> NotificationSettings:
    """Stored JSON → settings; missing keys read with defaults, unknown (legacy) keys are dropped."""
    known = {k: v for k, v in stored.items() if k in NotificationSettings.model_fields}
    return NotificationSettings.model_validate(known)


def settings_etag(payload: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f'"{digest}"'


def account_of_row(row: repo.AccountRow) -> WhatsAppAccount:
    return WhatsAppAccount(
        waba_id=row.waba_id,
        display_name=row.display_name,
        kind=row.kind,  # type: ignore[arg-type]  # the table's check constraint keeps it one of the two
        token_ref=row.token_ref,
        portfolio_id=row.portfolio_id,
        tenant_id=row.tenant_id,
        max_numbers=row.max_numbers,
        daily_limit=row.daily_limit,
        status=row.status,  # type: ignore[arg-type]
        source="database",
    )


async def known_accounts(session: AsyncSession, directory: PhoneDirectory) -> list[WhatsAppAccount]:
    """Every account: the environment's first (when ``WHATSAPP_BUSINESS_ACCOUNT_ID`` is set), then the stored ones
    by the time they were added, retired ones included."""
    return accounts_of_rows(await repo.list_accounts(session), directory)


def accounts_of_rows(rows: list[repo.AccountRow], directory: PhoneDirectory) -> list[WhatsAppAccount]:
    """:func:`known_accounts` of account rows already read."""
    environment = directory.environment_account()
    stored = [account_of_row(row) for row in rows]
    return ([environment] if environment else []) + [
        a for a in stored if environment is None or a.waba_id != environment.waba_id
    ]


def number_row(number: MasterNumber, assignment: repo.Assignment | None, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    """A number as Meta reports it and the bakery holding it (``names``: tenant id → name)."""
    return {
        "id": number.id,
        "display_phone_number": number.display_phone_number,
        "verified_name": number.verified_name,
        "quality_rating": number.quality_rating,
        "status": number.status,
        "messaging_limit": number.messaging_limit,
        "throughput_level": number.throughput_level,
        "assigned_tenant_id": str(assignment.tenant_id) if assignment else None,
        "assigned_tenant_name": names.get(assignment.tenant_id) if assignment else None,
    }


@dataclass(frozen=True)
class PhoneListing:
    numbers: list[dict[str, Any]]
    #: the accounts whose numbers could not be read, with why
    failures: list[tuple[WhatsAppAccount, AppError]]


@dataclass(frozen=True)
class TenantWhatsAppStatus:
    tenant_id: uuid.UUID
    tenant_name: str
    whatsapp_enabled: bool
    phone_number_id: str
    display_phone_number: str
    whatsapp_default_language: str

    @classmethod
    def of(cls, tenant: repo.TenantRow, current: NotificationSettings) -> TenantWhatsAppStatus:
        return cls(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            whatsapp_enabled=current.whatsapp_enabled,
            phone_number_id=current.whatsapp_phone_number_id,
            display_phone_number=current.whatsapp_display_phone_number,
            whatsapp_default_language=current.whatsapp_default_language,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "tenant_name": self.tenant_name,
            "whatsapp_enabled": self.whatsapp_enabled,
            "phone_number_id": self.phone_number_id or None,
            "display_phone_number": self.display_phone_number or None,
            "whatsapp_default_language": self.whatsapp_default_language,
        }


@dataclass(frozen=True)
class AssignOutcome:
    status: TenantWhatsAppStatus
    changed: bool
    #: the number the tenant held before (now freed)
    previous: repo.Assignment | None


class TenantService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        directory: PhoneDirectory,
        notifier: SettingsChangeNotifier | None = None,
    ):
        self.sessions = sessions
        self.directory = directory
        self.notifier = notifier

    async def settings_changed(self, tenant_id: uuid.UUID) -> None:
        await self._settings_changed(tenant_id)

    async def _settings_changed(self, tenant_id: uuid.UUID) -> None:
        """After the commit: the notification service drops its cached copy (best effort, never raises)."""
        if self.notifier is not None:
            await self.notifier.settings_changed(tenant_id)

    async def accounts_changed(self) -> None:
        """After an account's commit: the notification service reads the accounts again (best effort)."""
        if self.notifier is not None:
            await self.notifier.accounts_changed()

    # -- tenants -------------------------------------------------------------------------------------------

    async def create_tenant(self, name: str, tenant_id: uuid.UUID | None = None) -> repo.TenantRow:
        name = name.strip()
        if not name:
            raise InvalidInput("must not be empty", field="name")
        async with transaction(self.sessions) as session:
            return await repo.create_tenant(session, name, tenant_id)

    async def get_tenant(self, tenant_id: uuid.UUID) -> repo.TenantRow:
        async with self.sessions() as session:
            tenant = await repo.get_tenant(session, tenant_id)
        if tenant is None:
            raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
        return tenant

    async def tenant_count(self) -> int:
        async with self.sessions() as session:
            return await repo.count_tenants(session)

    async def list_tenants(self, limit: int, offset: int) -> tuple[list[repo.TenantRow], int]:
        async with self.sessions() as session:
            return await repo.list_tenants(session, limit=limit, offset=offset)

    # -- notification settings -----------------------------------------------------------------------------

    async def notification_settings(self, tenant_id: uuid.UUID) -> NotificationSettings:
        async with self.sessions() as session:
            found = await repo.get_notification_settings(session, tenant_id)
        if found is None:
            raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
        return read_settings(found[0])

    async def internal_settings(self, tenant_id: uuid.UUID) -> InternalNotificationSettings:
        async with self.sessions() as session:
            tenant = await repo.get_tenant(session, tenant_id)
            found = await repo.get_notification_settings(session, tenant_id)
            assignment = await repo.assignment_of_tenant(session, tenant_id)
            row = await repo.get_account(session, assignment.waba_id) if assignment else None
        if tenant is None or found is None:
            raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
        current = read_settings(found[0])
        account: dict[str, Any] = {}
        if assignment is not None:
            # A number assigned before issue 18 (or of the environment's account) is read with the environment's
            # token: ``settings``.
            account = {
                "waba_id": assignment.waba_id,
                "token_ref": SETTINGS_TOKEN_REF,
                "portfolio_id": assignment.waba_id,
                "account_kind": "platform",
            }
            if row is not None and assignment.waba_id != self.directory.waba_id:
                account = {
                    "waba_id": row.waba_id,
                    "token_ref": row.token_ref,
                    "portfolio_id": row.portfolio_id,
                    "account_kind": row.kind,
                }
        return InternalNotificationSettings(
            tenant_id=tenant.id, tenant_name=tenant.name, **current.model_dump(), **account
        )

    async def update_notification_settings(
        self, principal: Principal, tenant_id: uuid.UUID, changes: dict[str, Any]
    ) -> NotificationSettings:
        async with transaction(self.sessions) as session:
            # Lock order (see repository): the tenant row first, then its settings, as assign/unassign do.
            found = None
            if await repo.lock_tenant(session, tenant_id) is not None:
                found = await repo.get_notification_settings(session, tenant_id, for_update=True)
            if found is None:
                raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
            current = read_settings(found[0])
            for field in READ_ONLY_FOR_OWNERS:
                if field in changes and changes[field] != getattr(current, field):
                    raise InvalidInput(
                        "is managed by the platform admin and cannot be changed here "
                        "(send it back unchanged or leave it out)",
                        field=field,
                        code="read_only_field",
                    )
            updates = {k: v for k, v in changes.items() if k in OWNER_EDITABLE}
            language = updates.get("whatsapp_default_language")
            if language is not None and language not in SUPPORTED_LANGUAGES:
                raise InvalidInput(
                    f"'{language}' is not supported; use one of {', '.join(SUPPORTED_LANGUAGES)}",
                    field="whatsapp_default_language",
                )
            merged = NotificationSettings.model_validate({**current.model_dump(), **updates})
            if merged.whatsapp_enabled and not current.whatsapp_enabled and not merged.whatsapp_phone_number_id:
                raise Conflict(
                    "WhatsApp cannot be turned on yet: the platform admin must assign a phone number to this "
                    "bakery first",
                    code="no_phone_number_assigned",
                )
            await repo.save_notification_settings(session, tenant_id, merged.model_dump())
        if merged != current:
            await self._settings_changed(tenant_id)
        log.info(
            "whatsapp settings updated tenant_id=%s by=%s role=%s changes=%s",
            tenant_id,
            principal.sub,
            principal.role.value,
            sorted(updates),
        )
        return merged

    # -- phone numbers -------------------------------------------------------------------------------------

    async def active_accounts(self) -> list[WhatsAppAccount]:
        async with self.sessions() as session:
            accounts = await known_accounts(session, self.directory)
        active = [a for a in accounts if a.status == "active"]
        if not active:
            raise self.directory.not_configured()
        return active

    async def phone_numbers(self) -> PhoneListing:
        """The numbers of every active account. An account that cannot be read is named in ``failures``; when none
        can be read, the first one's error is raised (a single-account installation answers as before)."""
        results = await self.directory.numbers_of(await self.active_accounts())
        failures = [(r.account, r.error) for r in results if r.error is not None]
        if len(failures) == len(results):
            raise failures[0][1]
        for account, error in failures:
            log.warning("whatsapp account unreadable waba_id=%s code=%s: %s", account.waba_id, error.code, error.detail)
        async with self.sessions() as session:
            assignments = await repo.all_assignments(session)
            names = await repo.tenant_names(session, [a.tenant_id for a in assignments.values()])
        numbers = []
        for result in results:
            for number in result.numbers:
                numbers.append(
                    {
                        **number_row(number, assignments.get(number.id), names),
                        "name_status": number.name_status,
                        "waba_id": result.account.waba_id,
                        "account_name": result.account.display_name,
                    }
                )
        return PhoneListing(numbers, failures)

    async def tenants_whatsapp_status(self, limit: int, offset: int) -> list[TenantWhatsAppStatus]:
        async with self.sessions() as session:
            rows = await repo.tenants_with_settings(session, limit=limit, offset=offset)
        return [TenantWhatsAppStatus.of(tenant, read_settings(stored)) for tenant, stored in rows]

    async def _status(self, session: AsyncSession, tenant: repo.TenantRow) -> TenantWhatsAppStatus:
        found = await repo.get_notification_settings(session, tenant.id)
        return TenantWhatsAppStatus.of(tenant, read_settings(found[0] if found else {}))

    async def find_number(self, phone_number_id: str, display: str | None) -> tuple[WhatsAppAccount, MasterNumber]:
        """The active account holding the number and Meta's view of it."""
        results = await self.directory.numbers_of(await self.active_accounts())
        for result in results:
            for number in result.numbers:
                if number.id == phone_number_id:
                    if display is not None and digits(display) != digits(number.display_phone_number):
                        raise InvalidInput(
                            f"'{display}' does not match the number Meta reports for {phone_number_id} "
                            f"({number.display_phone_number}); leave it out to use Meta's",
                            field="display_phone_number",
                            code="display_number_mismatch",
                        )
                    return result.account, number
        failed = [r.error for r in results if r.error is not None]
        if failed:
            raise failed[0]  # the number may be in the account that could not be read: say why
        raise InvalidInput(
            f"'{phone_number_id}' is not a phone number of an active WhatsApp Business Account "
            "(see GET /api/v1/admin/whatsapp/phone-numbers)",
            field="phone_number_id",
            code="unknown_phone_number",
        )

    async def assign_phone(
        self, principal: Principal, tenant_id: uuid.UUID, phone_number_id: str, display: str | None
    ) -> tuple[TenantWhatsAppStatus, bool]:
        """Assigns a number of an active account to a tenant. Returns (status, changed)."""
        async with self.sessions() as session:
            if await repo.get_tenant(session, tenant_id) is None:
                raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
        account, number = await self.find_number(phone_number_id, display)
        try:
            async with transaction(self.sessions) as session:
                tenant = await repo.lock_tenant(session, tenant_id)
                if tenant is None:
                    raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
                outcome = await self.assign_in(session, principal, tenant, account, number)
        except IntegrityError:
            async with self.sessions() as session:
                holder = await repo.assignment_of_number(session, phone_number_id)
                if holder is not None and holder.tenant_id == tenant_id:
                    tenant = await repo.get_tenant(session, tenant_id)
                    assert tenant is not None
                    return await self._status(session, tenant), False
                await self._raise_already_assigned(
                    session, phone_number_id, number.display_phone_number, holder.tenant_id if holder else None
                )
            raise  # unreachable: _raise_already_assigned always raises
        if not outcome.changed:
            return outcome.status, False
        previous = outcome.previous
        await self._settings_changed(tenant_id)
        log.info(
            "whatsapp phone assigned tenant_id=%s phone_number_id=%s waba_id=%s previous=%s by=%s",
            tenant_id,
            phone_number_id,
            account.waba_id,
            previous.phone_number_id if previous else None,
            principal.sub,
        )
        return outcome.status, True

    async def assign_in(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: repo.TenantRow,
        account: WhatsAppAccount,
        number: MasterNumber,
    ) -> AssignOutcome:
        """The assignment inside the caller's transaction, the tenant row already locked."""
        if account.source == "database":
            # Lock order: tenant, account (shared: assignments run side by side, a retirement waits), assignments.
            row = await repo.lock_account(session, account.waba_id, share=True)
            if row is None or row.status != "active":
                raise Conflict(
                    f"Account {account.display_name} ({account.waba_id}) has been retired: its numbers cannot be "
                    "assigned",
                    code="account_retired",
                )
        phone_number_id, shown = number.id, number.display_phone_number
        holder = await repo.assignment_of_number(session, phone_number_id)
        if holder is not None and holder.tenant_id == tenant.id:
            return AssignOutcome(await self._status(session, tenant), False, None)
        if holder is not None:
            await self._raise_already_assigned(session, phone_number_id, shown, holder.tenant_id)
        previous = await repo.assignment_of_tenant(session, tenant.id)
        if previous is not None:
            await repo.delete_assignment(session, previous.phone_number_id)
        await repo.insert_assignment(
            session,
            repo.Assignment(
                phone_number_id=phone_number_id,
                tenant_id=tenant.id,
                display_phone_number=shown,
                waba_id=account.waba_id,
                assigned_by=principal.sub,
                assigned_at=utcnow(),
            ),
        )
        # Flush now so that a concurrent assign of the same number fails here, inside this transaction.
        await session.flush()
        found = await repo.get_notification_settings(session, tenant.id, for_update=True)
        current = read_settings(found[0] if found else {})
        merged = current.model_copy(
            update={"whatsapp_phone_number_id": phone_number_id, "whatsapp_display_phone_number": shown}
        )
        await repo.save_notification_settings(session, tenant.id, merged.model_dump())
        await repo.add_audit(
            session,
            actor=principal.sub,
            action="reassign" if previous else "assign",
            tenant_id=tenant.id,
            old=previous,
            new_phone_number_id=phone_number_id,
            new_display=shown,
        )
        return AssignOutcome(await self._status(session, tenant), True, previous)

    async def _raise_already_assigned(
        self, session: AsyncSession, phone_number_id: str, shown: str, holder_id: uuid.UUID | None
    ) -> None:
        names = await repo.tenant_names(session, [holder_id]) if holder_id else {}
        holder_name = names.get(holder_id, "another tenant") if holder_id else "another tenant"
        raise Conflict(
            f"Phone number {shown} ({phone_number_id}) is already assigned to {holder_name} "
            f"(tenant {holder_id}); unassign it there first",
            code="phone_already_assigned",
        )

    async def unassign_phone(self, principal: Principal, tenant_id: uuid.UUID) -> tuple[TenantWhatsAppStatus, bool]:
        async with transaction(self.sessions) as session:
            tenant = await repo.lock_tenant(session, tenant_id)
            if tenant is None:
                raise NotFound(f"Tenant {tenant_id} does not exist", code="tenant_not_found")
            previous = await repo.assignment_of_tenant(session, tenant_id)
            if previous is not None:
                await repo.delete_assignment(session, previous.phone_number_id)
            found = await repo.get_notification_settings(session, tenant_id, for_update=True)
            current = read_settings(found[0] if found else {})
            cleared = current.model_copy(
                update={"whatsapp_enabled": False, "whatsapp_phone_number_id": "", "whatsapp_display_phone_number": ""}
            )
            changed = previous is not None or cleared != current
            if cleared != current:
                await repo.save_notification_settings(session, tenant_id, cleared.model_dump())
            if previous is not None:
                await repo.add_audit(
                    session,
                    actor=principal.sub,
                    action="unassign",
                    tenant_id=tenant_id,
                    old=previous,
                    new_phone_number_id=None,
                    new_display=None,
                )
            status = await self._status(session, tenant)
        if changed:
            await self._settings_changed(tenant_id)
        if previous is not None:
            log.info(
                "whatsapp phone unassigned tenant_id=%s phone_number_id=%s by=%s",
                tenant_id,
                previous.phone_number_id,
                principal.sub,
            )
        return status, changed

    async def audit(self, tenant_id: uuid.UUID | None, limit: int, offset: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = await repo.list_audit(session, tenant_id=tenant_id, limit=limit, offset=offset)
            names = await repo.tenant_names(session, list({r["tenant_id"] for r in rows}))
        for row in rows:
            row["tenant_name"] = names.get(row["tenant_id"])
        return rows

    async def owner_of_number(self, phone_number_id: str) -> tuple[repo.Assignment, str]:
        async with self.sessions() as session:
            assignment = await repo.assignment_of_number(session, phone_number_id)
            if assignment is None:
                raise NotFound(f"Phone number {phone_number_id} is not assigned to any tenant", code="not_assigned")
            names = await repo.tenant_names(session, [assignment.tenant_id])
        return assignment, names.get(assignment.tenant_id, "")

    def directory_missing(self) -> list[str]:
        return self.directory.missing()

    async def ready(self) -> None:
        async with self.sessions() as session:
            await repo.ping(session)
