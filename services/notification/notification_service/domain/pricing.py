"""Pricing: whether Meta charges a message, and the rate card (rate per market and category, by effective date).

**Whether a message is charged** comes from the status webhook's ``pricing`` object, per message
(Meta, "Pricing on the WhatsApp Business Platform", developers.facebook.com/documentation/business-messaging/
whatsapp/pricing, per-message pricing since 2025-07-01; "Pricing updates", …/whatsapp/pricing/updates-to-pricing):

* ``type`` is the source of truth: ``regular`` is charged, ``free_customer_service`` and ``free_entry_point``
  are not. ``billable`` is deprecated by Meta ("will be deprecated in a future versioned release") and is read
  only when ``type`` is missing or unknown. When both disagree, ``type`` wins.
* ``category`` picks the rate (marketing, utility, authentication, authentication_international, service, …).

Nothing here decides from the customer-service window: Meta's page "Upcoming pricing updates for Meta Business
Agent, service and utility messages" (…/whatsapp/pricing/non-template-messages, updated 2026-07-01) announced
that **from 2026-10-01 service messages and utility templates sent inside an open customer-service window are
charged** (free until then: service since 2024-11, in-window utility since 2025-07-01). The webhook says which
applied to each message; the rate card dates say what it costs (``service`` is 0 until 2026-09-30 and the
market's utility rate from 2026-10-01 in the shipped card, see ``rate_card.csv``).

**The rate card** is data: rows ``(market, category, currency, rate, effective_from, source)`` in the billing
currency (:data:`CURRENCY`). Meta revises rates on the first day of a quarter; a message is priced with the rate
in force on the day it was sent (UTC). ``market`` is the recipient's country (ISO 3166 alpha-2 from the E.164
number) or ``*`` for every country the card does not list. No rate → the message is "unpriced" (NULL cost).
The shipped card (``notification_service/data/rate_card.csv``) is replaced by ``WHATSAPP_RATE_CARD`` /
``WHATSAPP_RATE_CARD_FILE`` when set, and rows loaded with ``bakery-admin rates load`` (stored in the database)
are laid over it. :func:`parse_csv` reads both our long format and Meta's wide rate-card layout.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bakery_shared.phone import region_of

CURRENCY = "EUR"
COST_QUANTUM = Decimal("0.000001")
RATE_MAX_DECIMALS = 6
DEFAULT_CARD_FILE = Path(__file__).resolve().parent.parent / "data" / "rate_card.csv"
#: The date the legacy JSON cards (``WHATSAPP_RATE_CARD``) take effect: always (they carry no date).
LEGACY_EFFECTIVE_FROM = date(2000, 1, 1)
#: Meta's announced change (see the module docstring); the product does not branch on it, the sandbox does.
IN_WINDOW_CHARGES_FROM = date(2026, 10, 1)

PRICING_TYPES = ("regular", "free_customer_service", "free_entry_point")
FREE_PRICING_TYPES = frozenset({"free_customer_service", "free_entry_point"})
CATEGORIES = (
    "marketing",
    "marketing_lite",
    "utility",
    "authentication",
    "authentication_international",
    "service",
    "referral_conversion",
)
LONG_HEADER = ("market", "category", "currency", "rate", "effective_from", "source")

#: Meta's rate card names markets; the standalone ones map to one country, the groups to several. Only the
#: markets this product ships or is likely to meet are listed; an unknown name is an error (use ISO codes).
META_MARKETS: dict[str, tuple[str, ...]] = {
    "argentina": ("AR",), "brazil": ("BR",), "chile": ("CL",), "colombia": ("CO",), "egypt": ("EG",),
    "france": ("FR",), "germany": ("DE",), "india": ("IN",), "indonesia": ("ID",), "israel": ("IL",),
    "italy": ("IT",), "malaysia": ("MY",), "mexico": ("MX",), "netherlands": ("NL",), "nigeria": ("NG",),
    "pakistan": ("PK",), "peru": ("PE",), "russia": ("RU",), "saudi arabia": ("SA",), "south africa": ("ZA",),
    "spain": ("ES",), "turkey": ("TR",), "united arab emirates": ("AE",), "united kingdom": ("GB",),
    "north america": ("US", "CA"), "portugal": ("PT",), "united states": ("US",),
    "other": ("*",),
}  # fmt: skip
META_COLUMNS = {
    "marketing": "marketing",
    "utility": "utility",
    "authentication": "authentication",
    "authentication-international": "authentication_international",
    "authentication international": "authentication_international",
    "authentication_international": "authentication_international",
    "service": "service",
}


class RateCardError(ValueError):
    """A rate-card file that cannot be loaded; ``problems`` says what to fix, line by line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))


def normalize_category(category: str | None) -> str | None:
    """``authentication-international`` (webhook spelling) → ``authentication_international``; lower case."""
    if not category:
        return None
    return category.strip().lower().replace("-", "_")


def is_charged(pricing_type: str | None, billable: bool | None) -> bool | None:
    """Whether Meta charges the message: from ``type``; ``billable`` only when the type is missing or unknown.

    None: the webhook says neither (no pricing information)."""
    kind = (pricing_type or "").strip().lower()
    if kind == "regular":
        return True
    if kind in FREE_PRICING_TYPES:
        return False
    return billable if isinstance(billable, bool) else None


@dataclass(frozen=True, slots=True)
class Rate:
    market: str
    category: str
    rate: Decimal
    effective_from: date
    currency: str = CURRENCY
    source: str = ""

    @property
    def key(self) -> tuple[str, str, date]:
        return (self.market, self.category, self.effective_from)


@dataclass(frozen=True)
class RateCard:
    """Every rate with its effective date; :meth:`rate` picks the one in force on a day."""

    rates: tuple[Rate, ...]
    _index: dict[tuple[str, str], list[Rate]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[Rate]] = {}
        for rate in self.rates:
            index.setdefault((rate.market, rate.category), []).append(rate)
        for versions in index.values():
            versions.sort(key=lambda r: r.effective_from)
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, rates: Iterable[Rate]) -> RateCard:
        return cls(tuple(rates))

    @classmethod
    def default(cls) -> RateCard:
        return cls.of(parse_csv(DEFAULT_CARD_FILE.read_text(encoding="utf-8")))

    @classmethod
    def load(cls, inline: Mapping[str, Mapping[str, object]] | None, path: Path | None) -> RateCard:
        """``inline`` (``WHATSAPP_RATE_CARD``, legacy JSON) wins over ``path`` (``WHATSAPP_RATE_CARD_FILE``: a CSV
        in either layout :func:`parse_csv` reads, or the legacy JSON) over the shipped card."""
        if inline is not None:
            return cls.of(from_legacy_json(inline))
        if path is not None:
            text = path.read_text(encoding="utf-8")
            if path.suffix.lower() == ".json":
                return cls.of(from_legacy_json(json.loads(text)))
            return cls.of(parse_csv(text))
        return cls.default()

    def overlaid(self, rows: Iterable[Rate]) -> RateCard:
        """This card with ``rows`` replacing the rates of the same market, category and effective date."""
        merged = {r.key: r for r in self.rates}
        merged.update({r.key: r for r in rows})
        return RateCard.of(merged.values())

    def rate(self, country: str | None, category: str | None, on: date | None = None) -> Decimal | None:
        """The rate in force on ``on`` (default: the latest) for the country, else for ``*``."""
        cat = normalize_category(category)
        if cat is None:
            return None
        for market in (country or "", "*"):
            versions = self._index.get((market, cat))
            if not versions:
                continue
            in_force = [r for r in versions if on is None or r.effective_from <= on]
            if in_force:
                return in_force[-1].rate
        return None

    def cost(
        self,
        recipient_e164: str,
        category: str | None,
        *,
        pricing_type: str | None = None,
        billable: bool | None = None,
        sent_at: datetime | date | None = None,
    ) -> Decimal | None:
        """Cost of one message: 0 when Meta does not charge it, the rate in force when it was sent when it does,
        None when unknown (no pricing information, or no rate for that market and category)."""
        charged = is_charged(pricing_type, billable)
        if charged is False:
            return Decimal("0").quantize(COST_QUANTUM)
        if charged is None:
            return None
        day = sent_at.date() if isinstance(sent_at, datetime) else sent_at
        rate = self.rate(_country(recipient_e164), category, day)
        return rate.quantize(COST_QUANTUM) if rate is not None else None


@functools.lru_cache(maxsize=4096)
def _country(recipient_e164: str) -> str | None:
    """The recipient's country (parsing a number costs more than pricing it; recipients repeat)."""
    try:
        return region_of(recipient_e164)
    except Exception:  # noqa: BLE001 - a malformed stored number is just "unknown country"
        return None


# ---------------------------------------------------------------- reading cards


def from_legacy_json(raw: Mapping[str, Mapping[str, object]]) -> list[Rate]:
    """``{"ES": {"utility": "0.02"}, "*": {...}}`` (``WHATSAPP_RATE_CARD``): rates with no date, in force always."""
    rates: list[Rate] = []
    for country, by_category in raw.items():
        market = "*" if country == "*" else country.strip().upper()
        for category, value in by_category.items():
            rates.append(
                Rate(
                    market=market,
                    category=normalize_category(category) or category,
                    rate=Decimal(str(value)),
                    effective_from=LEGACY_EFFECTIVE_FROM,
                    source="WHATSAPP_RATE_CARD (legacy JSON, no effective date)",
                )
            )
    return rates


def _decimal(value: str, where: str, problems: list[str]) -> Decimal | None:
    text = value.strip().replace(",", ".") if value.count(",") == 1 and "." not in value else value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        problems.append(f"{where}: rate {value!r} is not a number")
        return None
    if not number.is_finite() or number < 0:
        problems.append(f"{where}: rate {value!r} must be a finite number ≥ 0")
        return None
    if number >= 100:
        problems.append(f"{where}: rate {value!r} is not a per-message price (≥ 100)")
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_MAX_DECIMALS:
        problems.append(f"{where}: rate {value!r} has more than {RATE_MAX_DECIMALS} decimals")
        return None
    return number


def _date(value: str, where: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"{where}: effective_from {value!r} is not a date (YYYY-MM-DD)")
        return None


def _market(value: str, where: str, problems: list[str]) -> tuple[str, ...]:
    text = value.strip()
    if text == "*":
        return ("*",)
    if len(text) == 2 and text.isalpha():
        return (text.upper(),)
    known = META_MARKETS.get(text.lower())
    if known is None:
        problems.append(
            f"{where}: market {value!r} is neither an ISO 3166 country code nor a market this loader knows "
            "(write the country code, e.g. ES, or * for every other country)"
        )
        return ()
    return known


def _currency(value: str, where: str, problems: list[str], expected: str) -> bool:
    text = value.strip().upper()
    if text != expected:
        problems.append(f"{where}: currency {value!r} is not the billing currency {expected}")
        return False
    return True


def parse_csv(text: str, *, effective_from: date | None = None, currency: str = CURRENCY) -> list[Rate]:
    """Rates from a CSV, validated; :class:`RateCardError` lists every problem with its line.

    Two layouts are read:

    * **long** (the shipped card, one rate per line): ``market,category,currency,rate,effective_from,source``;
    * **wide** (Meta's rate-card layout, one market per line): a ``Market`` column, a ``Currency`` column
      (optional), one column per category (``Marketing``, ``Utility``, ``Authentication``,
      ``Authentication-International``, ``Service``); the card's date comes from ``effective_from``
      (required: Meta prints it in the title, not in the rows). Empty or ``n/a`` cells are skipped. Lines
      before the header (titles, notes) are skipped.
    """
    problems: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = list(csv.reader(io.StringIO(text)))
    header_at = next(
        (i for i, row in enumerate(rows) if row and row[0].strip().lower() in ("market", "market name")), None
    )
    if header_at is None:
        raise RateCardError(["no header line found: the first column must be 'market'"])
    header = [h.strip().lower() for h in rows[header_at]]
    body = [(header_at + 2 + i, row) for i, row in enumerate(rows[header_at + 1 :]) if any(c.strip() for c in row)]
    if not body:
        raise RateCardError(["the file has a header but no rates"])
    rates: list[Rate]
    if "category" in header:
        rates = _parse_long(header, body, problems, currency)
    else:
        rates = _parse_wide(header, body, problems, currency, effective_from)
    seen: dict[tuple[str, str, date], int] = {}
    for rate in rates:
        if rate.key in seen:
            problems.append(f"duplicate rate for {rate.market} {rate.category} from {rate.effective_from}")
        seen[rate.key] = 1
    if problems:
        raise RateCardError(problems)
    return rates


def _parse_long(header: list[str], body: list[tuple[int, list[str]]], problems: list[str], currency: str) -> list[Rate]:
    missing = [c for c in LONG_HEADER[:5] if c not in header]
    if missing:
        raise RateCardError([f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(LONG_HEADER)}"])
    col = {name: header.index(name) for name in LONG_HEADER if name in header}
    rates: list[Rate] = []
    for line, row in body:
        where = f"line {line}"
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        markets = _market(row[col["market"]], where, problems)
        category = normalize_category(row[col["category"]])
        if category not in CATEGORIES:
            problems.append(f"{where}: category {row[col['category']]!r} is not one of {', '.join(CATEGORIES)}")
            continue
        ok_currency = _currency(row[col["currency"]], where, problems, currency)
        value = _decimal(row[col["rate"]], where, problems)
        day = _date(row[col["effective_from"]], where, problems)
        source = row[col["source"]].strip() if "source" in col else ""
        if value is None or day is None or not ok_currency:
            continue
        rates += [Rate(m, category, value, day, currency, source) for m in markets]
    return rates


def _parse_wide(
    header: list[str],
    body: list[tuple[int, list[str]]],
    problems: list[str],
    currency: str,
    effective_from: date | None,
) -> list[Rate]:
    categories = {i: META_COLUMNS[h] for i, h in enumerate(header) if h in META_COLUMNS}
    if not categories:
        raise RateCardError(
            [
                "line 1: no rate columns; expected Marketing, Utility, Authentication (Meta's layout) "
                f"or the columns {','.join(LONG_HEADER)}"
            ]  # fmt: skip
        )
    if effective_from is None:
        raise RateCardError(["Meta's layout carries no date: give the card's effective date (--effective-from)"])
    currency_col = header.index("currency") if "currency" in header else None
    source = f"Meta rate card (loaded file), effective {effective_from.isoformat()}"
    rates: list[Rate] = []
    for line, row in body:
        where = f"line {line}"
        markets = _market(row[0], where, problems)
        currency_cell = row[currency_col] if currency_col is not None and currency_col < len(row) else None
        if currency_cell is not None and not _currency(currency_cell, where, problems, currency):
            continue
        for index, category in categories.items():
            cell = row[index].strip() if index < len(row) else ""
            if not cell or cell.lower() in ("n/a", "na", "-"):
                continue
            value = _decimal(cell.lstrip("$€£"), where, problems)
            if value is not None:
                rates += [Rate(m, category, value, effective_from, currency, source) for m in markets]
    return rates


def to_csv(rates: Iterable[Rate]) -> str:
    """The long layout (what ``GET /api/v1/admin/whatsapp/rates?format=csv`` returns and :func:`parse_csv` reads)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LONG_HEADER)
    for r in sorted(rates, key=lambda r: (r.market, r.category, r.effective_from)):
        writer.writerow([r.market, r.category, r.currency, format(r.rate, "f"), r.effective_from.isoformat(), r.source])
    return out.getvalue()
