"""The admin page's Accounts section (issue 18): the environment's account from the running stack, and an account
whose token Meta rejects shown with its problem (the tenant service's answer replaced in the browser)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.test_pages import expect, open_as

pytestmark = pytest.mark.browser


def test_admin_sees_the_accounts_and_the_account_of_each_number(page, needs_sandbox):
    stack = needs_sandbox
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    rows = page.locator("#accounts-body tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "active")
    expect(rows.first).to_contain_text("del entorno (.env)")
    expect(rows.first).to_contain_text("Plataforma")
    # every free number in the assign list names its account
    expect(page.locator("#tenants-body select option[data-waba-id]").first).to_contain_text("Master account")


def test_an_unreadable_account_is_shown_with_its_problem(page, stack):
    def accounts(route: Any) -> None:
        base = {"kind": "platform", "tenant_id": None, "max_numbers": 20, "status": "active", "numbers": []}
        body = [
            {**base, "waba_id": "100000000000001", "display_name": "Master account (environment)",
             "token_ref": "settings", "portfolio_id": "100000000000001", "daily_limit": None,
             "source": "environment", "assigned_count": 3, "error": None},
            {**base, "waba_id": "100000000000002", "display_name": "Portfolio EU 2", "token_ref": "file:/x",
             "portfolio_id": "100000000000002", "daily_limit": 1000, "source": "database", "assigned_count": 0,
             "error": {"code": "whatsapp_token_expired", "detail": "Meta rejected the token of account Portfolio EU 2"}},
            {**base, "waba_id": "100000000000003", "display_name": "Old", "token_ref": "env:OLD",
             "portfolio_id": "100000000000003", "daily_limit": None, "source": "database", "assigned_count": 0,
             "error": None, "status": "retired"},
        ]  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/admin/whatsapp/accounts", accounts)
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    rows = page.locator("#accounts-body tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("3 / 20")
    expect(rows.nth(1)).to_contain_text("Meta rejected the token of account Portfolio EU 2")
    expect(rows.nth(1)).to_contain_text("1000")
    expect(rows.nth(2)).to_contain_text("Retirada")
    expect(page.locator("#accounts-status")).to_contain_text("No se puede leer 1 cuenta")
    page.get_by_label("Idioma", exact=True).select_option("en")
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    expect(rows.nth(2)).to_contain_text("Retired")
    expect(rows.nth(0)).to_contain_text("from the environment (.env)")
    page.get_by_label("Language", exact=True).select_option("es")
