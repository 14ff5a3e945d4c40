"""The owner's page (issue 17): every message kind with its switch and latest messages, and the staff numbers
editor, in Chromium against the real services; no JavaScript or console errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_pages import bakery, expect, open_as

pytestmark = pytest.mark.browser


def test_owner_edits_staff_numbers_and_switches_kinds(page, needs_notification, shoot):
    stack = needs_notification
    console_errors: list[str] = []

    def on_console(message: Any) -> None:
        url = (message.location or {}).get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):  # the favicon is another change's
            console_errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    tenant_id, _ = bakery(7)
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    kinds = page.locator("#kinds-list > li[data-kind]")
    expect(kinds).to_have_count(3)
    expect(page.locator('#kinds-list li[data-kind="inventory_alert"]')).to_contain_text("Alertas de inventario")

    # switch inventory alerts on: saved at once, and still on after a reload
    page.get_by_label("Alertas de inventario (stock bajo mínimos)", exact=True).check()
    expect(page.locator("#kinds-status")).to_have_text("Guardado.")

    # two staff numbers; the second takes production alerts only
    page.get_by_role("button", name="Añadir número").click()
    page.locator("#staff-phone-0").fill("+34 612 345 671")
    page.locator("#staff-name-0").fill("Ana")
    page.get_by_role("button", name="Añadir número").click()
    page.locator("#staff-phone-1").fill("612345672")
    page.locator("#staff-1-inventory_alert").uncheck()
    page.locator("#staff-form").get_by_role("button", name="Guardar").click()
    expect(page.locator("#staff-result")).to_have_text("Guardado.")

    # a bad number is refused with what to fix, and nothing is lost
    page.get_by_role("button", name="Añadir número").click()
    page.locator("#staff-phone-2").fill("12345")
    page.locator("#staff-form").get_by_role("button", name="Guardar").click()
    expect(page.locator("#staff-result")).to_contain_text("12345")
    page.get_by_role("listitem").filter(has=page.locator("#staff-phone-2")).get_by_role("button", name="Quitar").click()

    page.reload()
    expect(page.locator("#staff-phone-0")).to_have_value("+34612345671")
    expect(page.locator("#staff-phone-1")).to_have_value("+34612345672")
    expect(page.locator("#staff-1-inventory_alert")).not_to_be_checked()
    expect(page.locator("#staff-1-production_alert")).to_be_checked()
    expect(page.locator("#kind-inventory_alert")).to_be_checked()
    settings = stack.settings(tenant_id)
    assert settings["enable_inventory_alerts"] is True
    assert [s["phone"] for s in settings["staff_numbers"]] == ["+34612345671", "+34612345672"]
    assert settings["staff_numbers"][1]["kinds"] == ["production_alert"]
    shoot(page, "owner-settings-kinds")
    # the browser logs the refused PUT (the 422 the test provoked); nothing else may be logged as an error
    provoked = [e for e in console_errors if "status of 422" in e and "/settings/notifications" in e]
    assert len(provoked) == 1, console_errors
    assert [e for e in console_errors if e not in provoked] == []


def test_admin_sees_per_kind_and_language_whether_the_template_is_approved(page, needs_notification):
    stack = needs_notification
    stack.sync_now()  # the notification service reads the WABA's templates from the sandbox (its seed has all six)
    open_as(page, stack, "/app/admin/whatsapp/messages", "admin")
    rows = page.locator("#kinds-body tr[data-kind]")
    expect(rows).to_have_count(6)  # three kinds × es, en
    for kind in ("purchase_order", "inventory_alert", "production_alert"):
        for language in ("es", "en"):
            row = page.locator(f'#kinds-body tr[data-kind="{kind}:{language}"]')
            expect(row).to_have_attribute("data-approved", "true")
            expect(row).to_contain_text("Aprobada")
