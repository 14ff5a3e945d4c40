"""Admin endpoints for the WhatsApp Business Accounts (issue 18; admin token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from bakery_shared.auth import AdminPrincipal
from bakery_shared.contracts import Offset
from tenant_service.api.deps import Accounts
from tenant_service.schemas import (
    DIGITS,
    AccountAuditEntry,
    AccountCreate,
    AccountOut,
    EmbeddedSignupRequest,
    EmbeddedSignupResult,
    RetireResult,
)

router = APIRouter(prefix="/api/v1/admin/whatsapp/accounts", tags=["admin: whatsapp accounts"])

WabaId = Annotated[str, Path(pattern=DIGITS, description="the WhatsApp Business Account id")]


@router.get("", response_model=list[AccountOut])
async def list_accounts(_: AdminPrincipal, accounts: Accounts) -> list[dict[str, object]]:
    """Every account, the environment's first: its numbers, how many are assigned, and any token problem."""
    return await accounts.listing()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AccountOut)
async def add_account(body: AccountCreate, principal: AdminPrincipal, accounts: Accounts) -> dict[str, object]:
    """Adds an account once its token (read through ``token_ref``) reads the WABA and its numbers at Meta."""
    return await accounts.add(principal, body)


@router.post("/embedded-signup", status_code=status.HTTP_201_CREATED, response_model=EmbeddedSignupResult)
async def embedded_signup(
    body: EmbeddedSignupRequest, principal: AdminPrincipal, accounts: Accounts
) -> dict[str, object]:
    """Connects a bakery's own account after Meta's Embedded Signup: code → token → webhooks → number → assigned."""
    return await accounts.embedded_signup(principal, body)


@router.get("/audit", response_model=list[AccountAuditEntry])
async def account_audit(
    _: AdminPrincipal,
    accounts: Accounts,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[dict[str, object]]:
    return await accounts.audit(limit, offset)


@router.post("/{waba_id}/retire", response_model=RetireResult)
async def retire_account(waba_id: WabaId, principal: AdminPrincipal, accounts: Accounts) -> dict[str, object]:
    """Retires an account none of whose numbers is assigned; its numbers leave the phone list."""
    account, changed = await accounts.retire(principal, waba_id)
    name = account["display_name"]
    message = f"Retired {name}" if changed else f"{name} was already retired; nothing changed"
    return {**account, "changed": changed, "message": message}
