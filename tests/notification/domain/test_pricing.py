"""The charge rule (pricing.type first, billable as fallback), the rate in force at send time, and CSV loading."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from notification_service.domain.pricing import (
    CATEGORIES,
    DEFAULT_CARD_FILE,
    PRICING_TYPES,
    RateCard,
    RateCardError,
    is_charged,
    parse_csv,
    to_csv,
)

ES = "+34612345678"
BEFORE = datetime(2026, 9, 30, 23, 59, tzinfo=UTC)
AFTER = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)

CARD = parse_csv(
    "market,category,currency,rate,effective_from,source\n"
    "ES,utility,EUR,0.0150,2025-07-01,a\n"
    "ES,utility,EUR,0.0172,2026-10-01,b\n"
    "ES,marketing,EUR,0.0529,2025-07-01,c\n"
    "ES,authentication,EUR,0.0172,2025-07-01,d\n"
    "ES,authentication_international,EUR,0.0400,2025-07-01,e\n"
    "ES,marketing_lite,EUR,0.0500,2025-07-01,f\n"
    "ES,referral_conversion,EUR,0,2025-07-01,g\n"
    "ES,service,EUR,0,2025-07-01,h\n"
    "ES,service,EUR,0.0172,2026-10-01,i\n"
    "*,utility,EUR,0.0300,2025-07-01,j\n"
)


# ---------------------------------------------------------------- whether Meta charges it


@pytest.mark.parametrize("pricing_type", PRICING_TYPES)
@pytest.mark.parametrize("billable", [True, False, None])
def test_type_decides_and_billable_never_overrides_it(pricing_type: str, billable: bool | None) -> None:
    assert is_charged(pricing_type, billable) is (pricing_type == "regular")


@pytest.mark.parametrize(("pricing_type", "billable", "expected"), [
    (None, True, True), (None, False, False), (None, None, None),
    ("", True, True), ("some_future_type", False, False), ("some_future_type", None, None),
    ("REGULAR", None, True), (" Free_Customer_Service ", True, False),
])  # fmt: skip
def test_billable_is_only_the_fallback(pricing_type: str | None, billable: bool | None, expected: bool | None) -> None:
    assert is_charged(pricing_type, billable) is expected


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("pricing_type", PRICING_TYPES)
@pytest.mark.parametrize("sent_at", [BEFORE, AFTER], ids=["2026-09-30", "2026-10-01"])
def test_every_type_and_category_on_both_sides_of_2026_10_01(
    category: str, pricing_type: str, sent_at: datetime
) -> None:
    """The webhook's type says whether it is charged (no window logic here), the dated card says how much."""
    card = RateCard.of(CARD)
    cost = card.cost(ES, category, pricing_type=pricing_type, billable=None, sent_at=sent_at)
    if pricing_type != "regular":
        assert cost == Decimal("0")
    else:
        assert cost == card.rate("ES", category, sent_at.date())
        assert cost is not None


def test_utility_in_window_is_charged_when_meta_says_regular() -> None:
    """From 2026-10-01 Meta reports in-window utility as regular: it costs the utility rate (never assumed free)."""
    card = RateCard.of(CARD)
    assert card.cost(ES, "utility", pricing_type="regular", billable=False, sent_at=AFTER) == Decimal("0.0172")
    assert card.cost(ES, "utility", pricing_type="free_customer_service", billable=True, sent_at=BEFORE) == 0
    # service messages: 0 on the card until 2026-09-30, the utility rate from 2026-10-01
    assert card.cost(ES, "service", pricing_type="regular", sent_at=BEFORE) == Decimal("0")
    assert card.cost(ES, "service", pricing_type="regular", sent_at=AFTER) == Decimal("0.0172")


def test_no_pricing_information_is_unpriced() -> None:
    assert RateCard.of(CARD).cost(ES, "utility", pricing_type=None, billable=None, sent_at=AFTER) is None


# ---------------------------------------------------------------- the rate in force when the message was sent


def test_rate_in_force_at_send_time() -> None:
    card = RateCard.of(CARD)
    assert card.rate("ES", "utility", date(2025, 6, 30)) is None  # before the card
    assert card.rate("ES", "utility", date(2025, 7, 1)) == Decimal("0.0150")
    assert card.rate("ES", "utility", date(2026, 9, 30)) == Decimal("0.0150")
    assert card.rate("ES", "utility", date(2026, 10, 1)) == Decimal("0.0172")
    assert card.rate("ES", "utility") == Decimal("0.0172")  # no day: the latest
    assert card.rate("GB", "utility", date(2026, 1, 1)) == Decimal("0.0300")  # the "*" market
    assert card.rate("GB", "marketing", date(2026, 1, 1)) is None
    assert card.cost(ES, "authentication-international", pricing_type="regular", sent_at=AFTER) == Decimal("0.04")


def test_loaded_rates_lay_over_the_base_card() -> None:
    base = RateCard.of(CARD)
    later = parse_csv(
        "market,category,currency,rate,effective_from,source\nES,utility,EUR,0.0190,2027-01-01,q1\n"
        "ES,utility,EUR,0.0160,2025-07-01,corrected\n"
    )
    card = base.overlaid(later)
    assert card.rate("ES", "utility", date(2026, 1, 1)) == Decimal("0.0160")  # same date: replaced
    assert card.rate("ES", "utility", date(2026, 12, 31)) == Decimal("0.0172")
    assert card.rate("ES", "utility", date(2027, 1, 1)) == Decimal("0.0190")


def test_legacy_json_card_still_works() -> None:
    card = RateCard.load({"es": {"utility": "0.02"}, "*": {"authentication-international": "0.05"}}, None)
    assert card.cost(ES, "utility", pricing_type="regular", sent_at=AFTER) == Decimal("0.02")
    assert card.cost("+447700900123", "authentication_international", billable=True) == Decimal("0.05")


def test_rate_card_file_csv_or_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "card.csv"
    csv_file.write_text("market,category,currency,rate,effective_from\nFR,utility,EUR,0.0258,2025-07-01\n")
    assert RateCard.load(None, csv_file).rate("FR", "utility") == Decimal("0.0258")
    json_file = tmp_path / "card.json"
    json_file.write_text('{"FR": {"utility": "0.03"}}')
    assert RateCard.load(None, json_file).rate("FR", "utility") == Decimal("0.03")


# ---------------------------------------------------------------- the shipped card


def test_shipped_card_covers_the_markets_with_sources() -> None:
    rates = parse_csv(DEFAULT_CARD_FILE.read_text(encoding="utf-8"))
    card = RateCard.of(rates)
    for market in ("ES", "PT", "FR", "DE", "IT", "GB", "US", "MX"):
        for category in ("marketing", "utility"):
            assert card.rate(market, category, date(2026, 12, 1)) is not None, (market, category)
        assert card.rate(market, "service", date(2026, 9, 30)) == 0
        assert card.rate(market, "service", date(2026, 10, 1)) == card.rate(market, "utility", date(2026, 10, 1))
    assert all(r.source for r in rates) and all(r.currency == "EUR" for r in rates)
    # a figure not confirmed against Meta's EUR card says so
    assert all("UNCONFIRMED" in r.source for r in rates if r.category in ("marketing", "utility"))
    assert RateCard.load(None, None).rates == card.rates


# ---------------------------------------------------------------- loading CSV files


def test_meta_wide_layout_with_title_lines() -> None:
    text = (
        "\ufeffWhatsApp Business Platform rate card (EUR)\n"
        "Effective 2027-01-01\n"
        "\n"
        "Market,Currency,Marketing,Utility,Authentication,Authentication-International,Service\n"
        "Spain,EUR,0.0530,0.0175,0.0175,n/a,0.0175\n"
        "North America,EUR,€0.0215,0.0034,0.0116,,0.0034\n"
        "PT,EUR,0.0509,0.0147,0.0147,,0.0147\n"
    )
    rates = parse_csv(text, effective_from=date(2027, 1, 1))
    card = RateCard.of(rates)
    assert card.rate("ES", "utility") == Decimal("0.0175")
    assert card.rate("US", "marketing") == card.rate("CA", "marketing") == Decimal("0.0215")
    assert card.rate("ES", "authentication_international") is None
    assert {r.effective_from for r in rates} == {date(2027, 1, 1)}
    assert sorted(parse_csv(to_csv(rates)), key=lambda r: r.key) == sorted(rates, key=lambda r: r.key)


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("", {}, "no header line"),
    ("market,category,currency,rate,effective_from\n", {}, "no rates"),
    ("market,category,rate\nES,utility,0.01\n", {}, "missing column(s) currency, effective_from"),
    ("market,category,currency,rate,effective_from\nES,utilities,EUR,0.01,2026-10-01\n", {}, "line 2: category"),
    ("market,category,currency,rate,effective_from\nES,utility,USD,0.01,2026-10-01\n", {}, "billing currency EUR"),
    ("market,category,currency,rate,effective_from\nES,utility,EUR,abc,2026-10-01\n", {}, "is not a number"),
    ("market,category,currency,rate,effective_from\nES,utility,EUR,-0.01,2026-10-01\n", {}, "≥ 0"),
    ("market,category,currency,rate,effective_from\nES,utility,EUR,150,2026-10-01\n", {}, "not a per-message price"),
    ("market,category,currency,rate,effective_from\nES,utility,EUR,0.0000001,2026-10-01\n", {}, "6 decimals"),
    ("market,category,currency,rate,effective_from\nES,utility,EUR,0.01,01/10/2026\n", {}, "is not a date"),
    ("market,category,currency,rate,effective_from\nAtlantis,utility,EUR,0.01,2026-10-01\n", {}, "market 'Atlantis'"),
    ("market,category,currency,rate,effective_from\nES,utility,EUR,0.01,2026-10-01\nes,utility,EUR,0.02,2026-10-01\n",
     {}, "duplicate rate for ES utility"),
    ("Market,Marketing,Utility\nSpain,0.05,0.01\n", {}, "give the card's effective date"),
    ("Market,Foo,Bar\nSpain,0.05,0.01\n", {"effective_from": date(2027, 1, 1)}, "no rate columns"),
])  # fmt: skip
def test_bad_files_are_refused_with_what_to_fix(text: str, kwargs: dict[str, date], message: str) -> None:
    with pytest.raises(RateCardError) as exc:
        parse_csv(text, **kwargs)
    assert message in str(exc.value)


def test_every_problem_is_reported_at_once() -> None:
    text = "market,category,currency,rate,effective_from\nES,utility,EUR,x,2026-10-01\nFR,nope,EUR,0.01,2026-10-01\n"
    with pytest.raises(RateCardError) as exc:
        parse_csv(text)
    assert len(exc.value.problems) == 2
    assert exc.value.problems[0].startswith("line 2") and exc.value.problems[1].startswith("line 3")
