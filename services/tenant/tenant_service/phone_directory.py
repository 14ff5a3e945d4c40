"""The phone numbers of every WhatsApp Business Account as Meta reports them, each account read with its own token
and cached briefly (Meta allows ~200 management calls an hour per account)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from bakery_shared.accounts import SETTINGS_TOKEN_REF, AccountTokens
from bakery_shared.contracts import WhatsAppAccount
from bakery_shared.errors import AppError, ServiceUnavailable, UpstreamError
from bakery_shared.graph import GraphClient, GraphClientError, GraphError, GraphNotConfigured, GraphTimeout
from tenant_service.config import TenantSettings


@dataclass(frozen=True)
class MasterNumber:
    id: str
    display_phone_number: str
    verified_name: str | None
    quality_rating: str | None
    status: str | None
    messaging_limit: str | None
    throughput_level: str | None
    name_status: str | None

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> MasterNumber:
        throughput = item.get("throughput") or {}
        return cls(
            id=str(item["id"]),
            display_phone_number=str(item.get("display_phone_number") or ""),
            verified_name=item.get("verified_name"),
            quality_rating=item.get("quality_rating"),
            status=item.get("status"),
            messaging_limit=item.get("whatsapp_business_manager_messaging_limit") or item.get("messaging_limit_tier"),
            throughput_level=throughput.get("level") if isinstance(throughput, dict) else None,
            name_status=item.get("name_status"),
        )


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


#: the name the environment's account (``WHATSAPP_BUSINESS_ACCOUNT_ID``) is shown with
ENVIRONMENT_ACCOUNT_NAME = "Master account (environment)"


def graph_error_to_app_error(exc: GraphClientError, account: WhatsAppAccount | None = None) -> Exception:
    """A Graph failure as the error the caller sees. ``account`` other than the environment's: the message names it
    and where its token is read, since the fix is there and not in ``WHATSAPP_ACCESS_TOKEN``."""
    if account is not None and account.source == "database":
        return _account_error(exc, account)
    if isinstance(exc, GraphNotConfigured):
        return ServiceUnavailable(
            "WhatsApp master account not configured: set WHATSAPP_ACCESS_TOKEN", code="whatsapp_not_configured"
        )
    if isinstance(exc, GraphError):
        if exc.is_token_problem:
            return UpstreamError(
                f"Meta rejected the master access token (Graph error {exc.code}: {exc.message}). The token has "
                "expired or is invalid: generate a new system-user token and update WHATSAPP_ACCESS_TOKEN "
                "(or the WHATSAPP_ACCESS_TOKEN_FILE).",
                code="whatsapp_token_expired",
            )
        return UpstreamError(f"Meta's Graph API error {exc.code}: {exc.message}", code="whatsapp_graph_error")
    return _unreachable(exc)


def _unreachable(exc: GraphClientError) -> Exception:
    if isinstance(exc, GraphTimeout):
        return UpstreamError(f"Meta's Graph API did not answer: {exc}", code="whatsapp_graph_unavailable")
    return UpstreamError(f"Meta's Graph API could not be reached: {exc}", code="whatsapp_graph_unavailable")


def _account_error(exc: GraphClientError, account: WhatsAppAccount) -> Exception:
    named = f"account {account.display_name} ({account.waba_id})"
    if isinstance(exc, GraphNotConfigured):
        return ServiceUnavailable(
            f"No token for {named}: nothing can be read from {account.token_ref}", code="whatsapp_not_configured"
        )
    if isinstance(exc, GraphError):
        if exc.is_token_problem:
            return UpstreamError(
                f"Meta rejected the token of {named} (Graph error {exc.code}: {exc.message}): put a valid "
                f"system-user token at {account.token_ref}",
                code="whatsapp_token_expired",
            )
        return UpstreamError(
            f"Meta's Graph API error {exc.code} for {named}: {exc.message}", code="whatsapp_graph_error"
        )
    return _unreachable(exc)


@dataclass(frozen=True)
class AccountNumbers:
    """One account's numbers, or why they could not be read (the other accounts are listed all the same)."""

    account: WhatsAppAccount
    numbers: list[MasterNumber]
    error: AppError | None = None


class PhoneDirectory:
    def __init__(self, settings: TenantSettings, graph: GraphClient):
        self._settings = settings
        self._graph = graph
        self._tokens = AccountTokens(graph.tokens)
        #: waba_id → (read at, token reference it was read with, numbers)
        self._cache: dict[str, tuple[float, str, list[MasterNumber]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def missing(self) -> list[str]:
        return self._settings.missing_master_account_variables()

    @property
    def waba_id(self) -> str:
        """The environment's account (``WHATSAPP_BUSINESS_ACCOUNT_ID``), empty when there is none."""
        return self._settings.whatsapp_business_account_id

    def environment_account(self) -> WhatsAppAccount | None:
        """The account of the ``WHATSAPP_*`` variables, always listed first; ``None`` without a WABA id."""
        if not self.waba_id:
            return None
        return WhatsAppAccount(
            waba_id=self.waba_id,
            display_name=ENVIRONMENT_ACCOUNT_NAME,
            kind="platform",
            token_ref=SETTINGS_TOKEN_REF,
            portfolio_id=self.waba_id,
            source="environment",
        )

    def not_configured(self) -> ServiceUnavailable:
        """No account to read: the environment's is incomplete (and none added, or all of them retired)."""
        detail = "WhatsApp master account not configured: missing " + ", ".join(self.missing())
        if not self.waba_id:
            detail += " (or add an account: POST /api/v1/admin/whatsapp/accounts, bakery-admin accounts add)"
        return ServiceUnavailable(detail, code="whatsapp_not_configured")

    def client(self, token_ref: str) -> GraphClient:
        """The Graph client speaking with the token ``token_ref`` names (the shared connection pool)."""
        return self._graph.with_tokens(self._tokens.provider(token_ref))

    @property
    def graph(self) -> GraphClient:
        return self._graph

    def invalidate(self, waba_id: str | None = None) -> None:
        if waba_id is None:
            self._cache.clear()
        else:
            self._cache.pop(waba_id, None)

    async def account_numbers(self, account: WhatsAppAccount) -> list[MasterNumber]:
        """The account's numbers (cached ``phone_numbers_cache_seconds``); raises the :class:`AppError` to show."""
        if account.source == "environment" and self.missing():
            raise self.not_configured()
        ttl = self._settings.phone_numbers_cache_seconds
        lock = self._locks.setdefault(account.waba_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(account.waba_id)
            if cached is not None and cached[1] == account.token_ref and time.monotonic() - cached[0] < ttl:
                return cached[2]
            try:
                items = await self.client(account.token_ref).list_phone_numbers(account.waba_id)
            except GraphClientError as exc:
                raise graph_error_to_app_error(exc, account) from exc
            numbers = [MasterNumber.from_graph(item) for item in items]
            self._cache[account.waba_id] = (time.monotonic(), account.token_ref, numbers)
            return numbers

    async def numbers_of(self, accounts: list[WhatsAppAccount]) -> list[AccountNumbers]:
        """Every account's numbers, read concurrently; one account failing does not hide the others."""

        async def one(account: WhatsAppAccount) -> AccountNumbers:
            try:
                return AccountNumbers(account, await self.account_numbers(account))
            except AppError as exc:
                return AccountNumbers(account, [], exc)

        return list(await asyncio.gather(*(one(a) for a in accounts)))
