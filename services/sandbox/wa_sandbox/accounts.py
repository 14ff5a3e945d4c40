"""Several WhatsApp Business Accounts (issue 18), control side: ``POST/GET /_sandbox/accounts`` (a platform
portfolio with its own token, numbers, messaging limit and templates) and ``POST /_sandbox/embedded-signup`` (a
bakery's own account, as Meta's Embedded Signup leaves it: no token yet, numbers unregistered, no app subscribed,
and a one-time code to exchange at ``/oauth/access_token``; see :mod:`wa_sandbox.onboarding`)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from .control import require_control_token
from .state import (
    ACCOUNT_KINDS,
    MAX_NUMBERS_PER_PORTFOLIO,
    MESSAGING_LIMIT_TIERS,
    QUALITY_RATINGS,
    SandboxState,
    SignupCode,
)
from .webhooks import WebhookDispatcher

router = APIRouter(prefix="/_sandbox", tags=["sandbox control"], dependencies=[Depends(require_control_token)])

WABA_ID_RE = re.compile(r"^\d{1,20}$")
DEFAULT_MESSAGING_LIMIT = 2000
LIMIT_CHOICES = ", ".join("null" if k is None else str(k) for k in MESSAGING_LIMIT_TIERS)


class AccountRequest(BaseModel):
    """A WABA ready to send. ``messaging_limit``: business-initiated conversations per 24 h (null: unlimited)."""

    waba_id: str | None = None
    name: str | None = None
    access_token: str | None = None
    numbers: int = 0
    messaging_limit: int | None = DEFAULT_MESSAGING_LIMIT
    quality_rating: str = "GREEN"
    #: ``platform`` (a portfolio of the platform's own) or ``tenant_owned`` (a bakery's account, already onboarded)
    kind: str = "platform"


class SignupRequest(BaseModel):
    """What a bakery's Embedded Signup creates: its own WABA with ``numbers`` numbers."""

    waba_id: str | None = None
    name: str | None = None
    numbers: int = 1
    messaging_limit: int | None = DEFAULT_MESSAGING_LIMIT


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _checked_account_fields(state: SandboxState, waba_id: str | None, numbers: int, limit: int | None) -> str:
    """422/409 with a message saying what to fix; returns the messaging-limit tier."""
    if waba_id is not None:
        if not WABA_ID_RE.match(waba_id):
            raise HTTPException(422, f"waba_id must be digits (at most 20), not {waba_id!r}; leave it out to get one")
        if waba_id in state.accounts or waba_id in state.numbers or waba_id in state.templates:
            raise HTTPException(409, f"waba_id {waba_id} is taken (GET /_sandbox/accounts lists the accounts)")
    if not 0 <= numbers <= MAX_NUMBERS_PER_PORTFOLIO:
        raise HTTPException(
            422,
            f"numbers must be 0 to {MAX_NUMBERS_PER_PORTFOLIO}: Meta caps a verified business portfolio at "
            f"{MAX_NUMBERS_PER_PORTFOLIO} registered numbers (got {numbers}); add another account for more",
        )
    if limit not in MESSAGING_LIMIT_TIERS:
        raise HTTPException(
            422, f"messaging_limit must be one of {LIMIT_CHOICES} (conversations per 24 h; null: unlimited)"
        )
    return MESSAGING_LIMIT_TIERS[limit]


@router.post("/accounts")
async def create_account(body: AccountRequest, request: Request) -> dict[str, Any]:
    """A platform WABA with its own token (given, or generated and returned here once) and ``numbers`` numbers."""
    state = _state(request)
    tier = _checked_account_fields(state, body.waba_id, body.numbers, body.messaging_limit)
    if body.quality_rating not in QUALITY_RATINGS:
        raise HTTPException(422, f"quality_rating must be one of {QUALITY_RATINGS}")
    if body.kind not in ACCOUNT_KINDS:
        raise HTTPException(422, f"kind must be one of {ACCOUNT_KINDS}")
    if body.access_token is not None and not body.access_token.strip():
        raise HTTPException(422, "access_token must not be blank; leave it out to get a generated one")
    token = body.access_token.strip() if body.access_token else "sandbox-" + secrets.token_urlsafe(24)
    account = state.add_account(
        waba_id=body.waba_id,
        name=body.name,
        token=token,
        numbers=body.numbers,
        messaging_limit_tier=tier,
        quality_rating=body.quality_rating,
        kind=body.kind,
    )
    return {**state.account_view(account), "access_token": token}


@router.get("/accounts")
async def list_accounts(request: Request) -> list[dict[str, Any]]:
    """Every account, the first (the seed's) first; tokens are never shown, only their state."""
    state = _state(request)
    return [state.account_view(account) for account in state.accounts.values()]


@router.get("/accounts/{waba_id}")
async def get_account(waba_id: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    account = state.accounts.get(waba_id)
    if account is None:
        raise HTTPException(404, f"unknown waba_id {waba_id}")
    return state.account_view(account)


class NumbersRequest(BaseModel):
    numbers: int = 1
    quality_rating: str = "GREEN"


@router.post("/accounts/{waba_id}/phone_numbers")
async def add_numbers(waba_id: str, body: NumbersRequest, request: Request) -> dict[str, Any]:
    """More numbers for an account (the seed's too), up to Meta's 20 per portfolio. A tenant-owned account's new
    numbers start unregistered, as its first ones did."""
    state = _state(request)
    account = state.accounts.get(waba_id)
    if account is None:
        raise HTTPException(404, f"unknown waba_id {waba_id}")
    have = len(state.account_numbers(account))
    if body.numbers < 1 or have + body.numbers > MAX_NUMBERS_PER_PORTFOLIO:
        raise HTTPException(
            422,
            f"numbers must be 1 to {MAX_NUMBERS_PER_PORTFOLIO - have}: the account has {have} and Meta caps a "
            f"verified business portfolio at {MAX_NUMBERS_PER_PORTFOLIO} registered numbers",
        )
    if body.quality_rating not in QUALITY_RATINGS:
        raise HTTPException(422, f"quality_rating must be one of {QUALITY_RATINGS}")
    # a number added to an Embedded Signup account that still has unregistered numbers starts unregistered too
    pending = any(not n.registered for n in state.account_numbers(account))
    added = state.add_numbers(account, body.numbers, quality_rating=body.quality_rating, registered=not pending)
    return {**state.account_view(account), "added": [n.id for n in added]}


@router.post("/embedded-signup")
async def embedded_signup(body: SignupRequest, request: Request) -> dict[str, Any]:
    """A bakery finished Meta's Embedded Signup: a new tenant-owned WABA whose token is not issued yet, whose
    numbers are not registered and to which no app is subscribed. Answers the one-time ``code`` (to exchange at
    ``/oauth/access_token``) and what Meta's session-info message gives the front end."""
    state = _state(request)
    tier = _checked_account_fields(state, body.waba_id, body.numbers, body.messaging_limit)
    account = state.add_account(
        waba_id=body.waba_id,
        name=body.name,
        token=None,
        numbers=body.numbers,
        messaging_limit_tier=tier,
        kind="tenant_owned",
        registered=False,
        subscribed=False,
    )
    code = "AQ" + secrets.token_urlsafe(48)
    state.signup_codes[code] = SignupCode(code=code, waba_id=account.id)
    numbers = [n.id for n in state.account_numbers(account)]
    business_id = str(10**15 + secrets.randbelow(9 * 10**15))
    disp: WebhookDispatcher = request.app.state.dispatcher
    delivery = disp.partner_added(account.id, business_id)
    return {
        "code": code,
        "waba_id": account.id,
        "phone_number_ids": numbers,
        "session_info": {
            "type": "WA_EMBEDDED_SIGNUP",
            "event": "FINISH",
            "data": {
                "phone_number_id": numbers[0] if numbers else None,
                "waba_id": account.id,
                "business_id": business_id,
            },
        },
        "account": state.account_view(account),
        "webhook_id": delivery.id if delivery else None,
    }
