"""How the sandbox prices a send (the ``pricing`` object of its status webhooks) and its ``pricing_analytics``.

Meta's rules by the day of the send (UTC):

* per-message pricing since 2025-07-01 (Meta, "Pricing on the WhatsApp Business Platform"): a template is
  charged (``type: regular``) unless a free window applies; a free-entry-point window (72 h after a
  click-to-WhatsApp ad or Page call to action) makes every message ``free_entry_point``;
* **before 2026-10-01** a utility template or a non-template (service) message inside the 24-hour
  customer-service window is ``free_customer_service`` and not billable;
* **from 2026-10-01** both are charged (``regular``): Meta's page "Upcoming pricing updates for Meta Business
  Agent, service and utility messages" (developers.facebook.com/documentation/business-messaging/whatsapp/
  pricing/non-template-messages, updated 2026-07-01). Marketing and authentication were never free in the window.

The day is injectable (``PUT /_sandbox/pricing {"send_date": "2026-09-30"}``) so both sides can be tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

IN_WINDOW_CHARGES_FROM = date(2026, 10, 1)
FREE_IN_WINDOW_BEFORE = frozenset({"utility", "service"})
ANALYTICS_GRANULARITY = {"HALF_HOUR": 1800, "DAILY": 86400, "MONTHLY": None}
ANALYTICS_DIMENSIONS = ("PHONE", "COUNTRY", "PRICING_CATEGORY", "PRICING_TYPE", "TIER")
#: The sandbox's own rate card (USD-free, in the WABA's currency): ``{market or "*": {category: rate}}``.
DEFAULT_RATES: dict[str, dict[str, Decimal]] = {
    "*": {
        "marketing": Decimal("0.05"),
        "utility": Decimal("0.02"),
        "authentication": Decimal("0.02"),
        "service": Decimal("0.02"),
    }
}


def pricing_for(category: str, *, in_window: bool, entry_point: bool, sent_on: date) -> dict[str, Any]:
    """The ``pricing`` object of a send's status webhooks."""
    if entry_point:
        kind = "free_entry_point"
    elif in_window and category in FREE_IN_WINDOW_BEFORE and sent_on < IN_WINDOW_CHARGES_FROM:
        kind = "free_customer_service"
    else:
        kind = "regular"
    return {"billable": kind == "regular", "pricing_model": "PMP", "type": kind, "category": category}


def rate(rates: Mapping[str, Mapping[str, Decimal]], country: str, category: str) -> Decimal:
    for market in (country, "*"):
        table = rates.get(market)
        if table is not None and category in table:
            return table[category]
    return Decimal(0)


def parse_analytics_field(raw: str) -> dict[str, str] | None:
    """``pricing_analytics.start(1).end(2).granularity(DAILY).dimensions([...])`` → ``{"start": "1", ...}``;
    None when the field list does not ask for pricing analytics."""
    text = raw.strip()
    if not text.startswith("pricing_analytics"):
        return None
    params: dict[str, str] = {}
    rest = text[len("pricing_analytics") :]
    while rest.startswith("."):
        name_end = rest.find("(")
        close = rest.find(")", name_end)
        if name_end < 0 or close < 0:
            break
        params[rest[1:name_end]] = rest[name_end + 1 : close]
        rest = rest[close + 1 :]
    return params


def analytics_list(value: str | None) -> list[str]:
    """``["A","B"]`` / ``[A,B]`` / ``A`` → ``["A", "B"]`` (the list arguments of a Graph field modifier)."""
    if not value:
        return []
    return [v.strip().strip("\"'") for v in value.strip("[]").split(",") if v.strip().strip("\"'")]


def analytics(
    records: Iterable[Any],
    *,
    start: int,
    end: int,
    granularity: str,
    dimensions: list[str],
    phone_numbers: list[str],
    display_of: Mapping[str, str],
    country_of: Any,
    rates: Mapping[str, Mapping[str, Decimal]],
) -> list[dict[str, Any]]:
    """Data points of what the sandbox delivered (``delivered``/``read``) in ``[start, end)``, grouped by the
    period and the asked dimensions; volume counts every delivered message, cost only the charged ones."""
    step = ANALYTICS_GRANULARITY[granularity]
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        if record.pricing is None or not ({"delivered", "read"} & set(record.statuses)):
            continue
        at = int(record.timestamp)
        if not start <= at < end:
            continue
        phone = display_of.get(record.phone_number_id, "")
        if phone_numbers and phone not in phone_numbers:
            continue
        if step is None:
            day = datetime.fromtimestamp(at, UTC)
            p_start = int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp())
            p_end = int(datetime(day.year + (day.month == 12), day.month % 12 + 1, 1, tzinfo=UTC).timestamp())
        else:
            p_start = start + (at - start) // step * step
            p_end = p_start + step
        country = country_of(record.wa_id)
        category = str(record.pricing["category"])
        kind = str(record.pricing["type"])
        dims: dict[str, Any] = {}
        if "PHONE" in dimensions:
            dims["phone_number"] = phone
        if "COUNTRY" in dimensions:
            dims["country"] = country
        if "PRICING_CATEGORY" in dimensions:
            dims["pricing_category"] = category.upper()
        if "PRICING_TYPE" in dimensions:
            dims["pricing_type"] = kind.upper()
        if "TIER" in dimensions:
            dims["tier"] = "0:1000"  # the sandbox has no volume tiers: everything in the first band
        key = (p_start, *sorted(dims.items()))
        point = groups.setdefault(key, {"start": p_start, "end": p_end, **dims, "volume": 0, "cost": Decimal(0)})
        point["volume"] += 1
        if kind == "regular":
            point["cost"] += rate(rates, country, category)
    points = sorted(groups.values(), key=lambda p: (p["start"], str(p.get("phone_number", "")), str(p)))
    for point in points:
        point["cost"] = float(point["cost"])
    return points
