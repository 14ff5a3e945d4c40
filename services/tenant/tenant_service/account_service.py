"""Rules for the WhatsApp Business Accounts (issue 18): add one (checked against Meta), list them with their numbers,
retire one, tell the notification service, and connect a bakery's own account after Meta's Embedded Signup.

Only token *references* are handled here; a token read through one goes to Meta and nowhere else (the one written
by the Embedded Signup exchange goes to a 0600 file, its reference to the database).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.accounts import parse_token_ref, token_ref_problem
from bakery_shared.auth import Principal
from bakery_shared.contracts import WhatsAppAccount
from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import AppError, Conflict, InvalidInput, NotFound, ServiceUnavailable, UpstreamError
from bakery_shared.graph import GraphClientError, GraphError, GraphNotConfigured
from tenant_service import repository as repo
from tenant_service.config import TenantSettings
from tenant_service.phone_directory import MasterNumber, PhoneDirectory, graph_error_to_app_error
from tenant_service.schemas import AccountCreate, EmbeddedSignupRequest
from tenant_service.services import TenantService, account_of_row, accounts_of_rows, known_accounts, number_row

log = logging.getLogger("tenant.accounts")

#: Graph error codes meaning the token is fine but cannot see this WABA (unknown object, no permission, not allowed)
UNREADABLE_CODES = (100, 200, 10)

T = TypeVar("T")


class TokenInvalid(InvalidInput):
    code = "whatsapp_token_invalid"


class AccountUnreadable(InvalidInput):
    code = "whatsapp_account_unreadable"


class EmbeddedSignupFailed(InvalidInput):
    code = "embedded_signup_failed"


def meta_refusal(exc: GraphClientError, waba_id: str, token_ref: str) -> Exception:
    """What to tell the admin when Meta will not show ``waba_id`` with the token at ``token_ref``."""
    if isinstance(exc, GraphNotConfigured):
        return TokenInvalid(
            f"no token could be read from {token_ref}: put the account's token there", field="token_ref"
        )
    if isinstance(exc, GraphError) and exc.is_token_problem:
        return TokenInvalid(
            f"Meta rejected the token read from {token_ref} (Graph error {exc.code}: {exc.title}): it has expired or "
            "is not a valid token; generate a system-user token with whatsapp_business_management and "
            "whatsapp_business_messaging for this WABA and put it there",
            field="token_ref",
        )
    if isinstance(exc, GraphError) and exc.code in UNREADABLE_CODES:
        return AccountUnreadable(
            f"the token read from {token_ref} cannot read WABA {waba_id} (Graph error {exc.code}: {exc.title}): check "
            "the WABA id, and that the token's system user is assigned to this account with "
            "whatsapp_business_management",
            field="waba_id",
        )
    return graph_error_to_app_error(exc)


class AccountService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        directory: PhoneDirectory,
        tenants: TenantService,
        settings: TenantSettings,
    ):
        self.sessions = sessions
        self.directory = directory
        self.tenants = tenants
        self.settings = settings

    # -- reading -------------------------------------------------------------------------------------------

    async def accounts(self) -> list[WhatsAppAccount]:
        """Every account as the notification service gets it: the environment's first, retired ones included."""
        async with self.sessions() as session:
            return await known_accounts(session, self.directory)

    async def listing(self) -> list[dict[str, Any]]:
        """Every account with its numbers (active ones only read from Meta), assigned count and any problem."""
        async with self.sessions() as session:
            stored = await repo.list_accounts(session)
            accounts = accounts_of_rows(stored, self.directory)
            rows = {row.waba_id: row for row in stored}
            counts = await repo.assigned_counts(session)
            assignments = await repo.all_assignments(session)
            names = await repo.tenant_names(session, list({a.tenant_id for a in assignments.values()}))
        results = await self.directory.numbers_of([a for a in accounts if a.status == "active"])
        by_waba = {r.account.waba_id: r for r in results}
        listed = []
        for account in accounts:
            result = by_waba.get(account.waba_id)
            numbers = result.numbers if result else []
            error = result.error if result else None
            listed.append(
                self._out(
                    account,
                    rows.get(account.waba_id),
                    numbers,
                    counts.get(account.waba_id, 0),
                    assignments,
                    names,
                    error,
                )
            )
        return listed

    @staticmethod
    def _out(
        account: WhatsAppAccount,
        row: repo.AccountRow | None,
        numbers: list[MasterNumber],
        assigned: int,
        assignments: dict[str, repo.Assignment],
        names: dict[uuid.UUID, str],
        error: AppError | None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = account.model_dump()
        out.update(
            created_at=row.created_at if row else None,
            created_by=row.created_by if row else None,
            retired_at=row.retired_at if row else None,
            assigned_count=assigned,
            error={"code": error.code, "detail": error.detail} if error else None,
            numbers=[number_row(number, assignments.get(number.id), names) for number in numbers],
        )
        return out

    async def audit(self, limit: int, offset: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            return await repo.list_account_audit(session, limit=limit, offset=offset)

    # -- adding --------------------------------------------------------------------------------------------

    async def _refuse_known(self, session: AsyncSession, waba_id: str) -> None:
        if waba_id == self.directory.waba_id:
            raise Conflict(
                f"WABA {waba_id} is the environment's account (WHATSAPP_BUSINESS_ACCOUNT_ID); it is always listed "
                "and cannot be added again",
                code="account_exists",
            )
        row = await repo.get_account(session, waba_id)
        if row is not None:
            state = "a retired account" if row.status == "retired" else "an account"
            raise Conflict(f"WABA {waba_id} is already {state}: {row.display_name}", code="account_exists")

    async def _check_tenant(self, session: AsyncSession, kind: str, tenant_id: uuid.UUID | None) -> None:
        if kind == "tenant_owned" and tenant_id is None:
            raise InvalidInput("is required for a tenant_owned account (the bakery it belongs to)", field="tenant_id")
        if kind == "platform" and tenant_id is not None:
            raise InvalidInput(
                "only a tenant_owned account belongs to a bakery; leave it out or set kind tenant_owned",
                field="tenant_id",
            )
        if tenant_id is not None and await repo.get_tenant(session, tenant_id) is None:
            raise InvalidInput(f"no bakery has the id {tenant_id}", field="tenant_id", code="tenant_not_found")

    async def _read_from_meta(self, waba_id: str, token_ref: str) -> list[MasterNumber]:
        """Proves the token reads the WABA and its numbers; the numbers come back."""
        client = self.directory.client(token_ref)
        try:
            await client.get_account(waba_id)
            items = await client.list_phone_numbers(waba_id)
        except GraphClientError as exc:
            raise meta_refusal(exc, waba_id, token_ref) from exc
        return [MasterNumber.from_graph(item) for item in items]

    async def add(self, principal: Principal, body: AccountCreate) -> dict[str, Any]:
        ref = parse_token_ref(body.token_ref)  # the schema has validated it
        async with self.sessions() as session:
            await self._refuse_known(session, body.waba_id)
            await self._check_tenant(session, body.kind, body.tenant_id)
        problem = token_ref_problem(ref)
        if problem is not None:
            raise TokenInvalid(
                f"{problem} on the tenant service's machine: create it, then add the account again", field="token_ref"
            )
        numbers = await self._read_from_meta(body.waba_id, str(ref))
        row = repo.AccountRow(
            waba_id=body.waba_id,
            display_name=body.display_name,
            kind=body.kind,
            token_ref=str(ref),
            portfolio_id=body.portfolio_id or body.waba_id,
            tenant_id=body.tenant_id,
            max_numbers=body.max_numbers,
            daily_limit=body.daily_limit,
            status="active",
            created_at=utcnow(),
            created_by=principal.sub,
            retired_at=None,
        )
        await self._store(principal, row, "add")
        self.directory.invalidate(row.waba_id)
        await self.tenants.accounts_changed()
        log.info(
            "whatsapp account added waba_id=%s kind=%s numbers=%d by=%s",
            row.waba_id,
            row.kind,
            len(numbers),
            principal.sub,
        )
        return self._out(account_of_row(row), row, numbers, 0, {}, {}, None)

    async def _store(self, principal: Principal, row: repo.AccountRow, action: str) -> None:
        try:
            async with transaction(self.sessions) as session:
                await self._refuse_known(session, row.waba_id)
                await repo.insert_account(session, row)
                await session.flush()
                await repo.add_account_audit(
                    session, actor=principal.sub, action=action, waba_id=row.waba_id, detail=self._detail(row)
                )
        except IntegrityError as exc:
            raise Conflict(f"WABA {row.waba_id} was added meanwhile", code="account_exists") from exc

    @staticmethod
    def _detail(row: repo.AccountRow) -> str:
        owner = f" tenant={row.tenant_id}" if row.tenant_id else ""
        return (
            f"{row.display_name} kind={row.kind} token_ref={row.token_ref} portfolio={row.portfolio_id} "
            f"max_numbers={row.max_numbers} daily_limit={row.daily_limit}{owner}"
        )

    # -- retiring ------------------------------------------------------------------------------------------

    async def retire(self, principal: Principal, waba_id: str) -> tuple[dict[str, Any], bool]:
        if waba_id == self.directory.waba_id:
            raise Conflict(
                f"WABA {waba_id} is the environment's account: it cannot be retired through the API (unset "
                "WHATSAPP_BUSINESS_ACCOUNT_ID and restart, once none of its numbers is assigned)",
                code="environment_account",
            )
        async with transaction(self.sessions) as session:
            row = await repo.lock_account(session, waba_id)
            if row is None:
                raise NotFound(f"No account with WABA id {waba_id}", code="account_not_found")
            changed = row.status != "retired"
            if changed:
                held = await repo.assignments_of_account(session, waba_id)
                if held:
                    names = await repo.tenant_names(session, [a.tenant_id for a in held])
                    who = ", ".join(
                        f"{a.display_phone_number} ({names.get(a.tenant_id, a.tenant_id)})" for a in held[:10]
                    )
                    more = f" and {len(held) - 10} more" if len(held) > 10 else ""
                    raise Conflict(
                        f"Account {row.display_name} ({waba_id}) still has {len(held)} assigned number(s): "
                        f"{who}{more}; unassign or move them first",
                        code="account_in_use",
                    )
                now = utcnow()
                await repo.retire_account(session, waba_id, now)
                await repo.add_account_audit(
                    session, actor=principal.sub, action="retire", waba_id=waba_id, detail=row.display_name
                )
                row = dataclasses.replace(row, status="retired", retired_at=now)
        self.directory.invalidate(waba_id)
        if changed:
            await self.tenants.accounts_changed()
            log.info("whatsapp account retired waba_id=%s by=%s", waba_id, principal.sub)
        return self._out(account_of_row(row), row, [], 0, {}, {}, None), changed

    # -- Embedded Signup (Tech Provider onboarding) --------------------------------------------------------

    def _secrets_dir(self) -> Path:
        # absolute and without "..": a ``file:`` token reference accepts nothing else
        directory = Path(self.settings.whatsapp_account_secrets_dir).resolve()
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        return directory

    @staticmethod
    async def _step(number: int, title: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except GraphClientError as exc:
            prefix = f"Embedded signup step {number} of 5 ({title}) failed"
            if isinstance(exc, GraphError):
                hint = (
                    " — the code is valid once and for a few minutes: ask the bakery to sign up again"
                    if number == 1
                    else ""
                )
                raise EmbeddedSignupFailed(f"{prefix}: Meta answered {exc.code}: {exc.title}{hint}") from exc
            raise UpstreamError(
                f"{prefix}: {graph_error_to_app_error(exc)}", code="whatsapp_graph_unavailable"
            ) from exc

    async def embedded_signup(self, principal: Principal, body: EmbeddedSignupRequest) -> dict[str, Any]:
        async with self.sessions() as session:
            tenant = await repo.get_tenant(session, body.tenant_id)
            if tenant is None:
                raise NotFound(f"Tenant {body.tenant_id} does not exist", code="tenant_not_found")
            await self._refuse_known(session, body.waba_id)
            holder = await repo.assignment_of_number(session, body.phone_number_id)
            if holder is not None and holder.tenant_id != body.tenant_id:
                raise Conflict(
                    f"Phone number {body.phone_number_id} is already assigned to another bakery",
                    code="phone_already_assigned",
                )
        app_id = self.settings.whatsapp_app_id
        app_secret = self.settings.whatsapp_app_secret.get_secret_value()
        missing = [n for n, v in (("WHATSAPP_APP_ID", app_id), ("WHATSAPP_APP_SECRET", app_secret)) if not v]
        if missing:
            raise ServiceUnavailable(
                "Embedded signup needs the Meta app's credentials: set " + " and ".join(missing),
                code="whatsapp_app_not_configured",
            )
        graph = self.directory.graph
        token = await self._step(
            1,
            "exchange the code for the business token",
            lambda: graph.exchange_code(app_id=app_id, app_secret=app_secret, code=body.code),
        )
        # one file per attempt: two connections of the same WABA racing never overwrite (or, failing, remove) the
        # other's token; the loser's file goes with its failure
        path = self._secrets_dir() / f"waba-{body.waba_id}-{secrets.token_hex(4)}.token"
        try:
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(descriptor, 0o600)
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    handle.write(token)
            except OSError as exc:
                raise ServiceUnavailable(
                    f"Embedded signup step 2 of 5 (write the token file) failed: {exc.strerror} at {path}; check "
                    "WHATSAPP_ACCOUNT_SECRETS_DIR",
                    code="embedded_signup_failed",
                ) from exc
            token_ref = f"file:{path}"
            client = self.directory.client(token_ref)
            await self._step(
                3, "subscribe the app to the account's webhooks", lambda: client.subscribe_app(body.waba_id)
            )
            await self._step(
                4, "register the number", lambda: client.register_number(body.phone_number_id, pin=body.pin)
            )
            item = await self._step(
                5, "read the registered number", lambda: client.get_phone_number(body.phone_number_id)
            )
            number = MasterNumber.from_graph({**item, "id": body.phone_number_id})
            row = repo.AccountRow(
                waba_id=body.waba_id,
                display_name=body.display_name or tenant.name,
                kind="tenant_owned",
                token_ref=token_ref,
                portfolio_id=body.waba_id,
                tenant_id=body.tenant_id,
                max_numbers=20,
                daily_limit=None,
                status="active",
                created_at=utcnow(),
                created_by=principal.sub,
                retired_at=None,
            )
            account = account_of_row(row)
            try:
                async with transaction(self.sessions) as session:
                    locked = await repo.lock_tenant(session, body.tenant_id)
                    if locked is None:
                        raise NotFound(f"Tenant {body.tenant_id} does not exist", code="tenant_not_found")
                    await self._refuse_known(session, row.waba_id)
                    await repo.insert_account(session, row)
                    await session.flush()
                    await repo.add_account_audit(
                        session, actor=principal.sub, action="connect", waba_id=row.waba_id, detail=self._detail(row)
                    )
                    outcome = await self.tenants.assign_in(session, principal, locked, account, number)
            except IntegrityError as exc:
                raise Conflict(
                    f"WABA {row.waba_id} or number {number.id} was taken meanwhile; nothing was stored",
                    code="account_exists",
                ) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.directory.invalidate(row.waba_id)
        await self.tenants.accounts_changed()
        await self.tenants.settings_changed(body.tenant_id)
        log.info(
            "whatsapp account connected waba_id=%s tenant_id=%s phone_number_id=%s by=%s",
            row.waba_id,
            body.tenant_id,
            number.id,
            principal.sub,
        )
        assignment = {
            **outcome.status.as_dict(),
            "changed": True,
            "message": f"Connected {row.display_name} and assigned {number.display_phone_number} to {tenant.name}",
        }
        out = self._out(account, row, [number], 1, {}, {}, None)
        out["numbers"][0].update(assigned_tenant_id=body.tenant_id, assigned_tenant_name=tenant.name)
        return {"account": out, "assignment": assignment}
