"""The admin's view of the rate card and the reading of an uploaded rate-card file (rules in domain/pricing.py)."""

from __future__ import annotations

from fastapi import Request

from bakery_shared.errors import InvalidInput
from notification_service.api.schemas_admin import RateOut, RatesOut
from notification_service.domain.pricing import CURRENCY, RateCard
from notification_service.services.pricing import MAX_CSV_BYTES


def rates_view(card: RateCard) -> RatesOut:
    rows = sorted(card.rates, key=lambda r: (r.market, r.category, r.effective_from))
    return RatesOut(
        currency=CURRENCY,
        rates=[
            RateOut(
                market=r.market,
                category=r.category,
                currency=r.currency,
                rate=format(r.rate, "f"),
                effective_from=r.effective_from.isoformat(),
                source=r.source,
            )
            for r in rows
        ],
    )


async def read_csv_body(request: Request) -> str:
    """The request body as text: UTF-8 (with or without BOM), at most ``MAX_CSV_BYTES``."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("send the rate-card CSV as the request body (Content-Type: text/csv)", field="body")
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(f"the rate card is larger than {MAX_CSV_BYTES} bytes", field="body")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the rate card is not UTF-8 text (export the CSV as UTF-8)", field="body") from exc
