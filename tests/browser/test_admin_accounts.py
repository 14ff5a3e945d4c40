"""The admin page's Accounts section (issue 18): the environment's account from the running stack, an account whose
token Meta rejects shown with its problem (the tenant service's answer replaced in the browser), adding and
retiring an account through the page against the sandbox, and each account's portfolio use today and month's cost."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.stack import WABA_ID
from tests.browser.test_pages import bakery, expect, open_as

pytestmark = pytest.mark.browser


def test_admin_sees_the_accounts_and_the_account_of_each_number(page, needs_sandbox):
    stack = needs_sandbox
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    # the environment's account is listed first (other tests add accounts of their own to the shared stack)
    first = page.locator("#accounts-body tr").first
    expect(first).to_have_attribute("data-waba-id", WABA_ID)
    expect(first).to_have_attribute("data-status", "active")
    expect(first).to_contain_text("del entorno (.env)")
    expect(first).to_contain_text("Plataforma")
    expect(first.locator("button[data-action=retire]")).to_have_count(0)  # the environment's is never retired
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


def _console_errors(page: Any) -> list[str]:
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(f"{message.text} ({(message.location or {}).get('url', '')})")

    page.on("console", on_console)
    return errors


def test_admin_adds_an_account_sees_its_numbers_and_retires_it(page, needs_sandbox, tmp_path: Path, shoot):
    """Through the form against the sandbox: added once Meta (the sandbox) confirms the token reads the WABA; a
    second add is refused inline (409); retiring is refused while a bakery holds one of its numbers (409
    account_in_use) and goes through after a confirm once it is free. No console error but the three refusals."""
    stack = needs_sandbox
    waba = "555000000000018"
    with httpx.Client(base_url=stack.sandbox_url, timeout=15) as client:
        created = client.post(
            "/_sandbox/accounts",
            json={"waba_id": waba, "name": "Cartera Pruebas", "access_token": "page18-token", "numbers": 2},
        )
    assert created.status_code in (200, 201), created.text
    numbers = created.json()["phone_numbers"]
    token_file = tmp_path / "tok"
    token_file.write_text("page18-token\n", encoding="utf-8")
    token_file.chmod(0o600)
    errors = _console_errors(page)

    open_as(page, stack, "/app/admin/whatsapp", "admin")
    form = page.locator("#add-account")
    result = page.locator("#add-account-result")
    # the bakery select appears only for a bakery's own account
    expect(page.locator("#acc-tenant-field")).to_be_hidden()
    form.get_by_label("Tipo").select_option("tenant_owned")
    expect(form.get_by_label("Panadería dueña de la cuenta")).to_be_visible()
    form.get_by_label("Tipo").select_option("platform")
    expect(page.locator("#acc-tenant-field")).to_be_hidden()
    expect(form.get_by_label("Referencia del token")).to_have_accessible_description(re.compile("nunca el token"))

    # a required field left empty is named and focused, nothing is sent
    form.get_by_role("button", name="Añadir cuenta").click()
    expect(result).to_have_attribute("data-kind", "error")
    expect(form.get_by_label("ID de la cuenta (WABA)")).to_be_focused()

    form.get_by_label("ID de la cuenta (WABA)").fill(waba)
    form.get_by_label("Nombre").fill("Cartera Pruebas")
    # the token itself instead of where it is: the service's 422 names the field, which gets the focus
    form.get_by_label("Referencia del token").fill("EAAGpage18token")
    form.get_by_role("button", name="Añadir cuenta").click()
    expect(result).to_contain_text("never the token itself")
    expect(result).to_have_attribute("data-kind", "error")
    expect(form.get_by_label("Referencia del token")).to_be_focused()
    expect(form.get_by_label("Referencia del token")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Referencia del token").fill(f"file:{token_file}")
    form.get_by_label("Límite diario (opcional)").fill("1000")
    form.get_by_label("Límite diario (opcional)").press("Enter")  # submits with the keyboard
    expect(result).to_have_text(re.compile("Cuenta Cartera Pruebas añadida con 2 número"))
    expect(result).to_have_attribute("data-kind", "success")
    expect(result).to_be_focused()
    expect(form.get_by_label("Referencia del token")).not_to_have_attribute("aria-invalid", "true")
    row = page.locator(f'#accounts-body tr[data-waba-id="{waba}"]')
    expect(row).to_have_attribute("data-status", "active")
    expect(row).to_contain_text("0 / 20 (2 en Meta)")
    expect(row).to_contain_text("1000")
    for n in numbers:
        expect(row.locator(f'.account-numbers li[data-phone-number-id="{n["id"]}"]')).to_contain_text(
            n["display_phone_number"]
        )
    expect(row).to_contain_text(f"file:{token_file}")
    expect(form.get_by_label("ID de la cuenta (WABA)")).to_have_value("")  # the form is cleared
    # its numbers are offered in the assign lists, named with the account
    expect(page.locator(f'#tenants-body select option[value="{numbers[0]["id"]}"]').first).to_contain_text(
        "Cartera Pruebas"
    )

    # the same WABA again: the service's 409 shown inline, nothing lost
    form.get_by_label("ID de la cuenta (WABA)").fill(waba)
    form.get_by_label("Nombre").fill("Otra vez")
    form.get_by_label("Referencia del token").fill(f"file:{token_file}")
    form.get_by_role("button", name="Añadir cuenta").click()
    expect(result).to_have_attribute("data-kind", "error")
    expect(result).to_contain_text("No se ha añadido")
    expect(result).to_contain_text(waba)
    expect(page.locator(f'#accounts-body tr[data-waba-id="{waba}"]')).to_have_count(1)

    # retiring while a bakery holds one of its numbers is refused with the service's reason
    tenant_id, name = bakery(10)
    stack.assign(tenant_id, numbers[0]["id"])
    try:
        page.get_by_role("button", name="Actualizar").click()
        expect(row).to_contain_text("1 / 20")
        row.get_by_role("button", name="Retirar la cuenta Cartera Pruebas").click()
        dialog = page.locator("#retire-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(f"Cartera Pruebas ({waba})")
        dialog.get_by_role("button", name="Cancelar").click()
        expect(dialog).to_be_hidden()
        expect(row.get_by_role("button", name="Retirar la cuenta Cartera Pruebas")).to_be_focused()
        row.get_by_role("button", name="Retirar la cuenta Cartera Pruebas").click()
        page.keyboard.press("Enter")  # the confirm button has the focus
        message = row.locator(".row-msg")
        expect(message).to_have_attribute("data-kind", "error")
        expect(message).to_contain_text(name)
        expect(message).to_be_focused()
        expect(row).to_have_attribute("data-status", "active")
    finally:
        stack.unassign(tenant_id)

    page.get_by_role("button", name="Actualizar").click()
    expect(row).to_contain_text("0 / 20")
    row.get_by_role("button", name="Retirar la cuenta Cartera Pruebas").click()
    page.locator("#retire-dialog").get_by_role("button", name="Retirar cuenta").click()
    expect(row).to_have_attribute("data-status", "retired")
    expect(row.locator(".row-msg")).to_contain_text("Cartera Pruebas retirada")
    expect(row.locator("button[data-action=retire]")).to_have_count(0)
    expect(page.locator(f'#tenants-body select option[value="{numbers[0]["id"]}"]')).to_have_count(0)
    shoot(page, "admin-whatsapp-accounts")

    refused = [e for e in errors if "status of 409" in e or "status of 422" in e]
    assert len(refused) == 3, errors  # the token instead of its reference, the second add, the refused retire
    assert [e for e in errors if e not in refused] == []


def test_each_account_shows_its_portfolio_today_and_its_month(page, stack):
    """usage.portfolios[] and costs.accounts[] of the notification service (replaced in the browser), per account:
    a portfolio shared by two accounts, a bakery's own account billed to that bakery."""
    sol_id, sol = bakery(1)
    own = "100000000000005"

    def accounts(route: Any) -> None:
        base = {
            "tenant_id": None,
            "max_numbers": 20,
            "status": "active",
            "numbers": [],
            "daily_limit": None,
            "source": "database",
            "assigned_count": 0,
            "error": None,
            "token_ref": "file:/x",
        }
        body = [
            {**base, "waba_id": WABA_ID, "display_name": "Master", "kind": "platform", "portfolio_id": WABA_ID,
             "token_ref": "settings", "source": "environment"},
            {**base, "waba_id": "100000000000002", "display_name": "EU 2", "kind": "platform",
             "portfolio_id": WABA_ID},
            {**base, "waba_id": own, "display_name": "Horno", "kind": "tenant_owned", "portfolio_id": own,
             "tenant_id": sol_id},
        ]  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def usage(route: Any) -> None:
        portfolio = {"remaining": None, "utilization": None, "active_bakeries": 1, "derived_share": None,
                     "configured_shares_total": 0}  # fmt: skip
        body = {
            "day": "2026-12-04", "tenant_daily_new_recipient_cap": None, "tenants": [],
            "portfolio": {**portfolio, "new_recipients_today": 12, "messaging_limit_tier": "TIER_2K",
                          "messaging_limit": 2000},
            "portfolios": [
                {**portfolio, "portfolio_id": WABA_ID, "waba_ids": [WABA_ID, "100000000000002"],
                 "new_recipients_today": 12, "messaging_limit_tier": "TIER_2K", "messaging_limit": 2000},
                {**portfolio, "portfolio_id": own, "waba_ids": [own], "new_recipients_today": 3,
                 "messaging_limit_tier": None, "messaging_limit": None},
            ],
        }  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def costs(route: Any) -> None:
        summary = {"by_status": {}, "by_category": {}, "unpriced": 0}
        body = {
            "month": "2026-12", "currency": "EUR", "tenants": [], "total_cost_eur": "0.5",
            "total": {**summary, "messages": 30, "billable": 30, "cost_eur": "0.5"}, "estimate": {},
            "accounts": [
                {**summary, "waba_id": WABA_ID, "kind": "platform", "portfolio_id": WABA_ID, "messages": 25,
                 "billable": 25, "cost_eur": "0.4875"},
                {**summary, "waba_id": own, "kind": "tenant_owned", "portfolio_id": own, "messages": 5,
                 "billable": 5, "cost_eur": "0.0975"},
            ],
        }  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/admin/whatsapp/accounts", accounts)
    page.route("**/api/v1/admin/whatsapp/usage", usage)
    page.route("**/api/v1/admin/whatsapp/costs**", costs)
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    master = page.locator(f'#accounts-body tr[data-waba-id="{WABA_ID}"]')
    eu2 = page.locator('#accounts-body tr[data-waba-id="100000000000002"]')
    horno = page.locator(f'#accounts-body tr[data-waba-id="{own}"]')
    expect(master.locator(".cell-today")).to_contain_text("12 destinatarios nuevos de 2000")
    expect(master.locator(".cell-today")).to_contain_text("TIER_2K")
    expect(master.locator(".cell-today")).to_contain_text("cartera compartida por 2 cuentas")
    expect(eu2.locator(".cell-today")).to_contain_text("12 destinatarios nuevos de 2000")  # the same portfolio
    expect(horno.locator(".cell-today")).to_contain_text("3 destinatarios nuevos de un límite aún desconocido")
    expect(master.locator(".cell-month")).to_contain_text("25 mensajes")
    expect(master.locator(".cell-month")).to_contain_text("0,4875")
    expect(master.locator(".cell-month")).not_to_contain_text("factura")
    expect(eu2.locator(".cell-month")).to_contain_text("0 mensajes")  # sent nothing this month
    expect(horno.locator(".cell-month")).to_contain_text("5 mensajes")
    expect(horno.locator(".cell-month")).to_contain_text(f"se factura a la cuenta propia de {sol}")
    page.get_by_label("Idioma", exact=True).select_option("en")
    expect(horno.locator(".cell-month")).to_contain_text(f"billed to {sol}'s own account")
    expect(master.locator(".cell-today")).to_contain_text("12 new recipients of 2000")
    page.get_by_label("Language", exact=True).select_option("es")


def test_accounts_say_not_available_when_the_notification_service_does_not_answer(page, stack):
    page.route("**/api/v1/admin/whatsapp/usage", lambda route: route.abort())
    page.route("**/api/v1/admin/whatsapp/costs**", lambda route: route.abort())
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    first = page.locator("#accounts-body tr").first
    expect(first.locator(".cell-today")).to_contain_text("No disponible")
    expect(first.locator(".cell-month")).to_have_text("No disponible")
    expect(page.locator("#tenants-body tr").first).to_be_visible()  # the rest of the page is there
