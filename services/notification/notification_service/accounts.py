"""The WhatsApp Business Accounts this process sends through (issue 18), as the notification service sees them.

* **Tokens**: one :class:`~bakery_shared.accounts.AccountTokens` per process, built on the Graph client's own
  (environment) token; :meth:`Accounts.graph_for` gives the one Graph client speaking with an account's token (a
  view sharing the connection pool, made once per token reference). The hot path needs nothing but the token
  reference the tenant's (cached) settings carry: no query, no request per message.
* **Hold keys**: an account-wide hold is keyed by the account's WABA id; the environment's account keeps the key
  ``master`` it always had (:func:`~notification_service.domain.decisions.account_scope_key`), so an installation
  upgraded while its account was held keeps the hold, and the admin API shows the WABA id next to it.
* **Directory**: the accounts the tenant service knows (``GET /internal/v1/whatsapp/accounts``), cached for
  ``ttl`` seconds and read again on a miss at most every ``miss_interval`` seconds. The environment's account
  (``WHATSAPP_BUSINESS_ACCOUNT_ID``, token ``settings``) is always known: when the tenant service is unreachable or
  lists nothing, it is the only account (a single-account installation changes nothing).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from bakery_shared.accounts import SETTINGS_TOKEN_REF, AccountTokens, TokenRefError
from bakery_shared.contracts import WhatsAppAccount
from bakery_shared.graph import GraphClient, GraphNotConfigured
from notification_service.config import NotificationSettings
from notification_service.domain.decisions import account_scope_key, account_waba_of_key
from notification_service.tenant_client import TenantSettingsClient

log = logging.getLogger("notification.whatsapp.accounts")

#: how long the list of accounts is trusted, and how often a miss (an unknown WABA id) may read it again
ACCOUNTS_TTL_SECONDS = 60.0
ACCOUNTS_MISS_INTERVAL_SECONDS = 5.0


class Accounts:
    """Tokens and the directory of accounts of one process (shared by the dispatcher, webhooks and the sync)."""

    def __init__(
        self,
        settings: NotificationSettings,
        graph: GraphClient,
        tenants: TenantSettingsClient | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = ACCOUNTS_TTL_SECONDS,
        miss_interval: float = ACCOUNTS_MISS_INTERVAL_SECONDS,
    ) -> None:
        self.settings = settings
        self.graph = graph
        self.tenants = tenants
        self.tokens = AccountTokens(graph.tokens)
        self.environment_waba = settings.whatsapp_business_account_id
        self._views: dict[str, GraphClient] = {SETTINGS_TOKEN_REF: graph}
        self._clock = clock
        self._ttl = ttl
        self._miss_interval = miss_interval
        self._listed: list[WhatsAppAccount] | None = None
        self._listed_at = float("-inf")
        self._tried_at = float("-inf")

    # ------------------------------------------------------------------ tokens

    def graph_for(self, token_ref: str) -> GraphClient:
        """The Graph client speaking with the token ``token_ref`` names (empty: the environment's account). A
        reference that names no place a token can come from raises :class:`GraphNotConfigured` (a credential
        problem: the account's messages are held, never sent with another account's token)."""
        ref = token_ref or SETTINGS_TOKEN_REF
        view = self._views.get(ref)
        if view is None:
            try:
                provider = self.tokens.provider(ref)
            except TokenRefError as exc:
                raise GraphNotConfigured(f"the account's token reference is not usable: {exc}") from exc
            view = self._views[ref] = self.graph.with_tokens(provider)
        return view

    def fingerprint(self) -> str:
        """Changes when any token this process uses changes (a rotated file): held accounts are probed at once."""
        digest = hashlib.sha256()
        for ref in sorted(self._views):
            try:
                token = self._views[ref].tokens.get()
            except OSError:
                token = ""
            digest.update(ref.encode() + b"\0" + token.encode() + b"\0")
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ hold keys

    def key_for(self, waba_id: str | None) -> str:
        """The ``account`` hold key of an account (``master`` for the environment's)."""
        return account_scope_key(waba_id or "", self.environment_waba)

    def waba_of_key(self, key: str) -> str:
        """The WABA id an ``account`` hold key stands for."""
        return account_waba_of_key(key, self.environment_waba)

    # ------------------------------------------------------------------ directory

    def environment(self) -> WhatsAppAccount:
        waba = self.environment_waba
        return WhatsAppAccount(
            waba_id=waba,
            display_name="environment (WHATSAPP_BUSINESS_ACCOUNT_ID)",
            token_ref=SETTINGS_TOKEN_REF,
            portfolio_id=waba,
            source="environment",
        )

    async def all(self, *, refresh: bool = False) -> list[WhatsAppAccount]:
        """Every account (retired ones included), the environment's first; from the cache within its TTL."""
        now = self._clock()
        if refresh or self._listed is None or now - self._listed_at >= self._ttl:
            await self._refresh(now)
        listed = self._listed or []
        env = next((a for a in listed if a.waba_id == self.environment_waba), None)
        others = [a for a in listed if a.waba_id != self.environment_waba]
        return [env or self.environment(), *others]

    def invalidate(self) -> None:
        """Forget the listed accounts (the tenant service changed them): the next use reads them again, even within
        the miss interval."""
        self._listed_at = float("-inf")
        self._tried_at = float("-inf")

    def several(self) -> bool:
        """Whether the accounts last listed include another than the environment's (no I/O)."""
        return any(a.waba_id != self.environment_waba for a in self._listed or [])

    async def active(self) -> list[WhatsAppAccount]:
        """The accounts that send (not retired) and have a WABA id."""
        return [a for a in await self.all() if a.status == "active" and a.waba_id]

    async def find(self, waba_id: str) -> WhatsAppAccount | None:
        """The account of ``waba_id`` (read again on a miss, at most every ``miss_interval`` seconds)."""
        if waba_id and waba_id == self.environment_waba:
            return next((a for a in await self.all() if a.waba_id == waba_id), self.environment())
        for account in await self.all():
            if account.waba_id == waba_id:
                return account
        now = self._clock()
        if now - self._tried_at < self._miss_interval:
            return None
        for account in await self.all(refresh=True):
            if account.waba_id == waba_id:
                return account
        return None

    async def is_known(self, waba_id: str) -> bool:
        """Whether webhooks of ``waba_id`` are ours to apply (a retired account's late statuses still are)."""
        return await self.find(waba_id) is not None

    async def graph_for_waba(self, waba_id: str | None) -> GraphClient:
        """The Graph client of an account named by its WABA id (the environment's when empty or unknown)."""
        if not waba_id or waba_id == self.environment_waba:
            return self.graph
        account = await self.find(waba_id)
        return self.graph_for(account.token_ref if account is not None else SETTINGS_TOKEN_REF)

    async def _refresh(self, now: float) -> None:
        self._tried_at = now
        if self.tenants is None:
            self._listed, self._listed_at = [], now
            return
        listed = await self.tenants.accounts()
        if listed is None:  # unreachable: keep what we had (or nothing: the environment's account alone)
            if self._listed is None:
                self._listed = []
            self._listed_at = now - self._ttl + self._miss_interval  # try again in a few seconds, not per call
            return
        self._listed, self._listed_at = listed, now
