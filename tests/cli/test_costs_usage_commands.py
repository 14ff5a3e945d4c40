"""``bakery-admin costs`` and ``usage`` grouped by account (issue 18): the per-account and per-portfolio tables after
the per-bakery one, ``--json`` the API's answer as it is. The services' answers are mocked at the HTTP edge (the
reports themselves are tested in tests/notification)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx
from click.testing import Result
from typer.testing import CliRunner

from bakery_cli.main import app

TENANT = "http://tenant.test"
NOTIFICATION = "http://notification.test"
SOL = "5b1a6c1e-0000-4000-8000-000000000001"
NORTE = "5b1a6c1e-0000-4000-8000-000000000002"
PLATFORM, EU2, OWN = "100000000000001", "100000000000002", "100000000000005"


def run(*args: str) -> Result:
    return CliRunner().invoke(
        app,
        ["--tenant-url", TENANT, "--notification-url", NOTIFICATION, "--token", "t", *args],
        env={"COLUMNS": "240"},
        catch_exceptions=False,
    )


def summary(messages: int, billable: int, cost: str) -> dict[str, Any]:
    return {
        "messages": messages,
        "by_status": {"delivered": messages},
        "by_category": {"utility": messages},
        "billable": billable,
        "unpriced": 0,
        "cost_eur": cost,
    }


COSTS: dict[str, Any] = {
    "month": "2026-12",
    "currency": "EUR",
    "tenants": [{"tenant_id": SOL, **summary(7, 7, "0.136500")}, {"tenant_id": NORTE, **summary(3, 3, "0.058500")}],
    "accounts": [
        {"waba_id": PLATFORM, "kind": "platform", "portfolio_id": PLATFORM, **summary(7, 7, "0.136500")},
        {"waba_id": OWN, "kind": "tenant_owned", "portfolio_id": OWN, **summary(3, 3, "0.058500")},
        {"waba_id": None, "kind": None, "portfolio_id": None, **summary(1, 0, "0.000000")},
    ],
    "total": summary(11, 10, "0.195000"),
    "total_cost_eur": "0.195000",
    "estimate": {},
}

TIER_2K: dict[str, Any] = {
    "new_recipients_today": 2,
    "messaging_limit_tier": "TIER_2K",
    "messaging_limit": 2000,
    "remaining": 1998,
    "utilization": 0.001,
    "active_bakeries": 1,
    "derived_share": 100,
    "configured_shares_total": 0,
}
NO_TIER_YET = {key: None for key in TIER_2K} | {"new_recipients_today": 0, "active_bakeries": 0}
USAGE: dict[str, Any] = {
    "day": "2026-12-04",
    "tenant_daily_new_recipient_cap": None,
    "tenants": [
        {
            "tenant_id": SOL,
            "portfolio_id": PLATFORM,
            "new_recipients_today": 2,
            "cap": 100,
            "share_source": "derived",
            "share_used": 2,
            "remaining": 98,
        },
    ],
    "portfolio": TIER_2K,
    "portfolios": [
        {"portfolio_id": PLATFORM, "waba_ids": [PLATFORM, EU2], **TIER_2K},
        {"portfolio_id": OWN, "waba_ids": [OWN], **NO_TIER_YET, "configured_shares_total": 0},
    ],
}

ACCOUNTS = [
    {"waba_id": PLATFORM, "display_name": "Master account (environment)"},
    {"waba_id": EU2, "display_name": "Portfolio EU 2"},
    {"waba_id": OWN, "display_name": "Horno Norte"},
]


def mock_tenant_service(accounts_status: int = 200) -> None:
    respx.get(f"{TENANT}/api/v1/admin/whatsapp/tenants").mock(
        return_value=httpx.Response(
            200, json=[{"tenant_id": SOL, "tenant_name": "Panadería Sol"}, {"tenant_id": NORTE, "tenant_name": "Norte"}]
        )
    )
    answer = ACCOUNTS if accounts_status == 200 else {"detail": "Not Found"}
    respx.get(f"{TENANT}/api/v1/admin/whatsapp/accounts").mock(
        return_value=httpx.Response(accounts_status, json=answer)
    )


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@respx.mock
def test_costs_prints_the_bakeries_then_the_accounts() -> None:
    respx.get(f"{NOTIFICATION}/api/v1/admin/whatsapp/costs").mock(return_value=httpx.Response(200, json=COSTS))
    mock_tenant_service()
    result = run("costs")
    assert result.exit_code == 0, result.stdout
    out = result.stdout
    assert out.index("Panadería Sol") < out.index("per account")
    (platform,) = lines_with(out, f"Master account (environment) ({PLATFORM})")
    assert "platform" in platform and "7" in platform and "0.1365" in platform
    (own,) = lines_with(out, f"Horno Norte ({OWN})")
    assert "billed to the bakery" in own and "0.0585" in own
    assert lines_with(out, "(no account)")


@respx.mock
def test_costs_without_account_names_shows_the_ids() -> None:
    """A tenant service that cannot list accounts (older, or failing) does not fail the report."""
    respx.get(f"{NOTIFICATION}/api/v1/admin/whatsapp/costs").mock(return_value=httpx.Response(200, json=COSTS))
    mock_tenant_service(accounts_status=404)
    result = run("costs")
    assert result.exit_code == 0, result.stdout
    (own,) = lines_with(result.stdout, OWN)
    assert "tenant_owned" in own


@respx.mock
def test_costs_json_is_the_api_answer() -> None:
    respx.get(f"{NOTIFICATION}/api/v1/admin/whatsapp/costs").mock(return_value=httpx.Response(200, json=COSTS))
    mock_tenant_service()
    result = run("--json", "costs")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["accounts"] == COSTS["accounts"]
    assert set(data) == set(COSTS)


@respx.mock
def test_usage_prints_each_portfolio_with_its_accounts_and_limit() -> None:
    respx.get(f"{NOTIFICATION}/api/v1/admin/whatsapp/usage").mock(return_value=httpx.Response(200, json=USAGE))
    mock_tenant_service()
    result = run("usage")
    assert result.exit_code == 0, result.stdout
    out = result.stdout
    assert out.index(SOL) < out.index("per portfolio")
    (shared,) = lines_with(out, "Portfolio EU 2")
    assert shared.lstrip("│ ").startswith(PLATFORM) and "Master account (environment)" in shared
    assert "2 / 2000" in shared and "TIER_2K" in shared and "1998" in shared
    (own,) = lines_with(out, "Horno Norte")
    assert "0 / limit unknown" in own


@respx.mock
def test_usage_json_is_the_api_answer() -> None:
    respx.get(f"{NOTIFICATION}/api/v1/admin/whatsapp/usage").mock(return_value=httpx.Response(200, json=USAGE))
    result = run("--json", "usage")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout) == USAGE
