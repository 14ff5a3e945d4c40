"""The master account's phone numbers as Meta reports them, cached briefly (Meta allows ~200 calls an hour)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from bakery_shared.errors import ServiceUnavailable, UpstreamError
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


def graph_error_to_app_error(exc: GraphClientError) -> Exception:
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
    if isinstance(exc, GraphTimeout):
        return UpstreamError(f"Meta's Graph API did not answer: {exc}", code="whatsapp_graph_unavailable")
    return UpstreamError(f"Meta's Graph API could not be reached: {exc}", code="whatsapp_graph_unavailable")


class PhoneDirectory:
    def __init__(self, settings: TenantSettings, graph: GraphClient):
        self._settings = settings
        self._graph = graph
        self._cached: list[MasterNumber] | None = None
        self._cached_at = 0.0
        self._lock = asyncio.Lock()

    def missing(self) -> list[str]:
        return self._settings.missing_master_account_variables()

    def _ensure_configured(self) -> str:
        missing = self.missing()
        if missing:
            raise ServiceUnavailable(
                "WhatsApp master account not configured: missing " + ", ".join(missing),
                code="whatsapp_not_configured",
            )
        return self._settings.whatsapp_business_account_id

    @property
    def waba_id(self) -> str:
        return self._settings.whatsapp_business_account_id

    def invalidate(self) -> None:
        self._cached = None

    async def numbers(self) -> list[MasterNumber]:
        waba_id = self._ensure_configured()
        ttl = self._settings.phone_numbers_cache_seconds
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._cached_at < ttl:
                return self._cached
            try:
                items = await self._graph.list_phone_numbers(waba_id)
            except GraphClientError as exc:
                raise graph_error_to_app_error(exc) from exc
            self._cached = [MasterNumber.from_graph(item) for item in items]
            self._cached_at = time.monotonic()
            return self._cached

    async def find(self, phone_number_id: str) -> MasterNumber | None:
        for number in await self.numbers():
            if number.id == phone_number_id:
                return number
        return None
