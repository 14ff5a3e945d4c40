"""The rate card in use (shipped or configured card + rates the admin loaded) and Meta's pricing analytics.

* :class:`RateCardStore` owns the card the webhook processor prices with: the base card (``rate_card.csv`` or
  ``WHATSAPP_RATE_CARD``/``WHATSAPP_RATE_CARD_FILE``) overlaid with ``rate_card_rates``. :meth:`load_csv` is the
  one way to change the stored rates (``PUT /api/v1/admin/whatsapp/rates``, ``bakery-admin rates load``); every
  process re-reads them every ``WHATSAPP_RATE_CARD_REFRESH_SECONDS``.
* :func:`sync_pricing_analytics` reads ``GET /<WABA_ID>?fields=pricing_analytics…`` (Meta, "Analytics",
  developers.facebook.com/docs/whatsapp/business-management-api/analytics#pricing-analytics; the node is
  "WhatsApp Business Account Pricing Analytics" in the Graph API reference: granularity HALF_HOUR/DAILY/MONTHLY,
  dimensions PHONE, COUNTRY, PRICING_CATEGORY, PRICING_TYPE, TIER, metrics VOLUME and COST; lookback 1 year since
  2025-12-01) and stores it per number, day, country, category and type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction
from bakery_shared.errors import InvalidInput
from bakery_shared.graph import GraphClient
from notification_service.domain.pricing import RateCard, RateCardError, parse_csv
from notification_service.repositories import pricing as pricing_repo
from notification_service.repositories.pricing import AnalyticsPoint

log = logging.getLogger("notification.pricing")

MAX_CSV_BYTES = 2_000_000


class RateCardStore:
    def __init__(
        self,
        base: RateCard,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_change: Callable[[RateCard], None],
        refresh_seconds: float = 60.0,
    ) -> None:
        self.base = base
        self.sessions = sessions
        self.on_change = on_change
        self.refresh_seconds = refresh_seconds
        self.card = base
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> RateCard:
        async with self.sessions() as session:
            loaded = await pricing_repo.loaded_rates(session)
        self.card = self.base.overlaid(loaded)
        self.on_change(self.card)
        return self.card

    async def load_csv(self, text: str, *, effective_from: date | None, now: datetime, by: str | None) -> int:
        """Validate the whole file, then store every rate in one transaction (nothing is stored on an error)."""
        if len(text.encode("utf-8")) > MAX_CSV_BYTES:
            raise InvalidInput(f"the rate card is larger than {MAX_CSV_BYTES} bytes", field="body")
        try:
            rates = parse_csv(text, effective_from=effective_from)
        except RateCardError as exc:
            raise InvalidInput(f"rate card rejected: {exc}", field="body") from exc
        async with transaction(self.sessions) as session:
            count = await pricing_repo.upsert_rates(session, rates, now=now, by=by)
        await self.refresh()
        return count

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="rate-card-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - keep the card we have; the next round tries again
                log.exception("could not re-read the stored rate card")
            await asyncio.sleep(self.refresh_seconds)


# ---------------------------------------------------------------- Meta's pricing analytics


def _points(data_points: list[dict[str, Any]]) -> list[AnalyticsPoint]:
    points: list[AnalyticsPoint] = []
    for p in data_points:
        try:
            day = datetime.fromtimestamp(int(p["start"]), UTC).date()
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        cost: Decimal | None
        try:
            cost = Decimal(str(p["cost"])) if p.get("cost") is not None else None
        except InvalidOperation:
            cost = None
        if cost is not None and not cost.is_finite():
            cost = None
        points.append(
            AnalyticsPoint(
                phone_number="".join(ch for ch in str(p.get("phone_number") or "") if ch.isdigit())[:32] or "unknown",
                day=day,
                country=str(p.get("country") or "*")[:8].upper(),
                pricing_category=str(p.get("pricing_category") or "unknown")[:48].lower(),
                pricing_type=str(p.get("pricing_type") or "unknown")[:48].lower(),
                volume=max(int(p.get("volume") or 0), 0),
                cost=cost,
            )
        )
    return points


async def sync_pricing_analytics(
    graph: GraphClient,
    sessions: async_sessionmaker[AsyncSession],
    *,
    waba_id: str,
    now: datetime,
    days: int,
    legacy: bool = True,
) -> int:
    """Read the last ``days`` UTC days (today included) of one account and replace what was stored of that account
    for them (``legacy``: also the rows stored before accounts were recorded: the environment's account's)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=max(days, 1) - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    data_points = await graph.pricing_analytics(waba_id, start=int(start.timestamp()), end=int(end.timestamp()))
    points = _points(data_points)
    covered = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    async with transaction(sessions) as session:
        return await pricing_repo.replace_days(session, points, days=covered, now=now, waba_id=waba_id, legacy=legacy)
