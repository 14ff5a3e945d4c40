"""The rate card: EUR per delivered template message, by recipient country (ISO 3166 code) and category.

Meta bills per message (PMP, since 2025-07-01) by template category and the recipient's country calling code.
The built-in card only knows Spain and its figures are **placeholders of the right order of magnitude**
(docs/notification.md; the reference could not retrieve Meta's EUR CSV): override them with
``WHATSAPP_RATE_CARD`` (JSON) or ``WHATSAPP_RATE_CARD_FILE`` from Meta's official rate card every quarter.
A country missing from the card uses the ``"*"`` entry when there is one; otherwise the message is
"unpriced" (``cost_eur`` NULL, counted separately in the costs report).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bakery_shared.phone import region_of

CURRENCY = "EUR"
COST_QUANTUM = Decimal("0.000001")

DEFAULT_RATE_CARD: dict[str, dict[str, Decimal]] = {
    "ES": {
        "marketing": Decimal("0.0450"),
        "utility": Decimal("0.0150"),
        "authentication": Decimal("0.0150"),
        "authentication_international": Decimal("0.0150"),
        "marketing_lite": Decimal("0.0450"),
        "service": Decimal("0"),
        "referral_conversion": Decimal("0"),
    },
}


def normalize_category(category: str | None) -> str | None:
    """``authentication-international`` (webhook spelling) → ``authentication_international``; lower case."""
    if not category:
        return None
    return category.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class RateCard:
    rates: Mapping[str, Mapping[str, Decimal]]

    @classmethod
    def load(cls, inline: Mapping[str, Mapping[str, Decimal]] | None, path: Path | None) -> RateCard:
        """``inline`` (``WHATSAPP_RATE_CARD``) wins over ``path`` (``WHATSAPP_RATE_CARD_FILE``) over the default."""
        raw: Mapping[str, Mapping[str, object]] | None = inline
        if raw is None and path is not None:
            raw = json.loads(path.read_text(encoding="utf-8"))
        if raw is None:
            return cls(DEFAULT_RATE_CARD)
        rates: dict[str, dict[str, Decimal]] = {}
        for country, by_category in raw.items():
            rates[country.upper() if country != "*" else "*"] = {
                normalize_category(k) or k: Decimal(str(v)) for k, v in by_category.items()
            }
        return cls(rates)

    def rate(self, country: str | None, category: str | None) -> Decimal | None:
        cat = normalize_category(category)
        if cat is None:
            return None
        for key in (country or "", "*"):
            table = self.rates.get(key)
            if table is not None and cat in table:
                return table[cat]
        return None

    def cost(self, recipient_e164: str, category: str | None, billable: bool | None) -> Decimal | None:
        """EUR for one message: 0 when Meta says it is not billable, None when the card has no rate."""
        if billable is False:
            return Decimal("0").quantize(COST_QUANTUM)
        rate = self.rate(_country(recipient_e164), category)
        return rate.quantize(COST_QUANTUM) if rate is not None else None


@functools.lru_cache(maxsize=4096)
def _country(recipient_e164: str) -> str | None:
    """The recipient's country (parsing a number costs more than pricing it; recipients repeat)."""
    try:
        return region_of(recipient_e164)
    except Exception:  # noqa: BLE001 - a malformed stored number is just "unknown country"
        return None
