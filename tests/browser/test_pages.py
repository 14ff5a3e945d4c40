"""The web pages in a real browser against the real services (sandbox + tenant service, notification when present).

Each test uses its own demo bakeries and numbers, so the tests do not depend on one another's order.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tenant_service.seed_demo import DEMO_BAKERIES
from tests.browser.stack import Stack

pytestmark = pytest.mark.browser

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under REQUIRE_BROWSER=1) with the reason
    expect = None


def bakery(i: int) -> tuple[str, str]:
    tenant_id, name = DEMO_BAKERIES[i - 1]
    return str(tenant_id), name


def number(i: int) -> str:
    return f"2000000000000{i:02d}"


def open_as(page: Any, stack: Stack, path: str, role: str, tenant_id: str | None = None) -> None:
    """Signs in the way production does: the platform hands the token over once in the URL fragment."""
    page.goto(f"{path}#token={stack.token(role, tenant_id)}")


def tenant_row(page: Any, tenant_id: str) -> Any:
    return page.locator(f'#tenants-body tr[data-tenant-id="{tenant_id}"]')


# -- sign-in ---------------------------------------------------------------------------------------------------


def test_dev_sign_in_lists_the_demo_users_and_signs_in(page, stack, shoot):
    page.goto("/app/")
    expect(page.get_by_role("heading", name="Entrar", level=1)).to_be_visible()
    expect(page.locator("#dev-admins button")).to_have_count(1)
    owners = page.locator("#dev-owners button")
    expect(owners).to_have_count(len(DEMO_BAKERIES))
    expect(owners.first).to_have_text(f"Propietario de {DEMO_BAKERIES[0][1]}")
    shoot(page, "signin")

    page.get_by_role("button", name="Administración de la plataforma").click()
    expect(page).to_have_url(re.compile(r"/app/admin/whatsapp$"))
    expect(page.get_by_role("heading", name="Números de WhatsApp", level=1)).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('bakery.token')")

    page.get_by_role("button", name="Salir").click()
    expect(page).to_have_url(re.compile(r"/app/$"))
    assert page.evaluate("sessionStorage.getItem('bakery.token')") is None


def test_fragment_token_is_kept_and_removed_from_the_address(page, stack):
    tenant_id, name = bakery(10)
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    expect(page.locator("#bakery-name")).to_have_text(name)
    assert "token" not in page.url
    page.reload()
    expect(page.locator("#bakery-name")).to_have_text(name)


def test_pages_refuse_the_wrong_role_and_no_token(page, stack):
    page.goto("/app/admin/whatsapp")
    expect(page.get_by_role("alert").filter(has_text="Necesitas entrar")).to_be_visible()
    tenant_id, _ = bakery(10)
    open_as(page, stack, "/app/admin/whatsapp", "owner", tenant_id)
    expect(page.get_by_role("alert").filter(has_text="no es para tu tipo de cuenta")).to_be_visible()
    expect(page.locator("#tenants-body tr")).to_have_count(0)


# -- admin: numbers --------------------------------------------------------------------------------------------


def test_admin_assigns_a_number_and_sees_the_conflict_when_it_is_assigned_twice(context, page, needs_sandbox, shoot):
    stack = needs_sandbox
    sol_id, sol = bakery(1)
    lola_id, _ = bakery(2)
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    # A second admin tab opened now keeps a stale list in which the number is still free.
    stale = context.new_page()
    open_as(stale, stack, "/app/admin/whatsapp", "admin")
    expect(tenant_row(stale, lola_id).locator("select option", has_text="+34 612 345 678")).to_have_count(1)

    row = tenant_row(page, sol_id)
    row.get_by_label(f"Número libre para {sol}").select_option(number(1))
    row.get_by_role("button", name="Asignar").click()
    expect(row.locator(".row-msg")).to_have_text(re.compile(r"Número \+34 612 345 678 asignado a Panadería Sol"))
    expect(row).to_contain_text("+34 612 345 678")
    expect(row.locator("[data-quality]")).to_have_text(re.compile("Alta"))
    expect(row.locator("[data-enabled]")).to_have_text(re.compile("Desactivado"))
    # the number is no longer offered as free anywhere on the fresh page
    expect(tenant_row(page, lola_id).locator(f'select option[value="{number(1)}"]')).to_have_count(0)
    expect(page.locator("#audit-body")).to_contain_text("Panadería Sol")

    stale_row = tenant_row(stale, lola_id)
    stale_row.locator("select").select_option(number(1))
    stale_row.get_by_role("button", name="Asignar").click()
    message = stale_row.locator(".row-msg")
    expect(message).to_contain_text("already assigned to Panadería Sol")
    expect(message).to_have_attribute("data-kind", "error")
    expect(stale.locator("#banner")).to_be_hidden()
    stale.close()
    assert stack.settings(lola_id)["whatsapp_phone_number_id"] == ""
    shoot(page, "admin-whatsapp")


def test_admin_unassigns_only_after_confirming(page, needs_sandbox):
    stack = needs_sandbox
    tenant_id, name = bakery(3)
    stack.assign(tenant_id, number(3))
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    row = tenant_row(page, tenant_id)
    expect(row).to_contain_text("+34 612 345 680")

    row.get_by_role("button", name="Quitar número").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"+34 612 345 680 de {name}")
    dialog.get_by_role("button", name="Cancelar").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name="Quitar número")).to_be_focused()
    assert stack.settings(tenant_id)["whatsapp_phone_number_id"] == number(3)

    row.get_by_role("button", name="Quitar número").click()
    page.keyboard.press("Enter")  # the confirm button has the focus
    expect(row.locator(".row-msg")).to_contain_text(f"Número retirado de {name}")
    expect(row).to_contain_text("Sin número")
    assert stack.settings(tenant_id)["whatsapp_phone_number_id"] == ""
    expect(page.locator("#audit-body")).to_contain_text("Número retirado")


def test_admin_sees_meta_and_configuration_errors_in_a_banner(page, stack):
    def unavailable(route: Any) -> None:
        route.fulfill(
            status=503,
            content_type="application/json",
            body='{"detail": "WhatsApp master account not configured: missing WHATSAPP_BUSINESS_ACCOUNT_ID",'
            ' "code": "whatsapp_not_configured"}',
        )

    page.route("**/api/v1/admin/whatsapp/phone-numbers", unavailable)
    open_as(page, stack, "/app/admin/whatsapp", "admin")
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("missing WHATSAPP_BUSINESS_ACCOUNT_ID")
    # the bakeries are still listed; assigning waits until the numbers are back
    expect(page.locator("#tenants-body tr")).to_have_count(len(DEMO_BAKERIES))
    expect(page.locator("#tenants-body button[data-action=assign]").first).to_be_disabled()


# -- owner: settings -------------------------------------------------------------------------------------------


def test_owner_without_a_number_cannot_turn_whatsapp_on_and_is_told_why(page, stack, shoot):
    tenant_id, name = bakery(5)
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    expect(page.locator("#bakery-name")).to_have_text(name)
    switch = page.get_by_role("switch", name="Avisar a los proveedores por WhatsApp")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_disabled()
    expect(page.locator("#wa-switch-help")).to_contain_text("la plataforma asignará un número")
    expect(page.locator("#wa-number")).to_contain_text("Todavía sin número")
    expect(page.get_by_role("button", name="Enviar prueba")).to_be_disabled()
    shoot(page, "owner-settings-no-number")


def test_owner_turns_whatsapp_on_and_sees_the_number(page, needs_sandbox, shoot):
    stack = needs_sandbox
    tenant_id, _ = bakery(4)
    stack.assign(tenant_id, number(4))
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    expect(page.locator("#wa-number")).to_have_text("+34 612 345 681")
    switch = page.get_by_role("switch", name="Avisar a los proveedores por WhatsApp")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_enabled()

    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#wa-result")).to_have_text("Guardado.")
    expect(page.locator("#wa-switch-text")).to_have_text("Activado")
    assert stack.settings(tenant_id)["whatsapp_enabled"] is True

    # keyboard: Space toggles the focused switch off and on again
    switch.focus()
    page.keyboard.press("Space")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_focused()
    page.keyboard.press("Space")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#wa-result")).to_have_text("Guardado.")

    page.get_by_label("Idioma de los mensajes").select_option("ca")
    page.get_by_label("Avisar al proveedor de cada pedido de compra").uncheck()
    page.locator("#prefs-form").get_by_role("button", name="Guardar").click()
    expect(page.locator("#prefs-result")).to_have_text("Guardado.")
    saved = stack.settings(tenant_id)
    assert saved["whatsapp_default_language"] == "ca"
    assert saved["enable_po_notifications"] is False
    assert saved["whatsapp_enabled"] is True
    assert saved["whatsapp_phone_number_id"] == number(4)

    page.reload()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.get_by_label("Idioma de los mensajes")).to_have_value("ca")
    page.get_by_label("Avisar al proveedor de cada pedido de compra").check()
    page.locator("#prefs-form").get_by_role("button", name="Guardar").click()
    expect(page.locator("#prefs-result")).to_have_text("Guardado.")
    shoot(page, "owner-settings")


def test_owner_sees_the_409_message_when_the_number_was_taken_away_meanwhile(page, needs_sandbox):
    stack = needs_sandbox
    tenant_id, _ = bakery(8)
    stack.assign(tenant_id, number(8))
    stack.set_whatsapp(
        tenant_id, False
    )  # whatever an earlier scenario on this bakery left (tests/browser/test_owner_kinds)
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    switch = page.get_by_role("switch")
    expect(switch).to_be_enabled()
    stack.unassign(tenant_id)  # the admin frees the number while the page is open

    switch.click()
    result = page.locator("#wa-result")
    expect(result).to_contain_text("la plataforma tiene que asignar antes un número")
    expect(result).to_have_attribute("data-kind", "error")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_disabled()  # the page re-read the settings: no number any more
    assert stack.settings(tenant_id)["whatsapp_enabled"] is False


def test_language_switcher_changes_the_page_to_english_and_remembers_it(page, stack):
    tenant_id, _ = bakery(9)
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_label("Idioma", exact=True).select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(page.get_by_role("switch", name="Notify suppliers on WhatsApp")).to_be_visible()
    expect(page.locator("#wa-switch-help")).to_contain_text("the platform will assign a WhatsApp number")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    page.get_by_label("Language", exact=True).select_option("es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notificaciones")


# -- admin: messages, costs, quality ---------------------------------------------------------------------------


def test_admin_messages_page_loads_and_says_what_is_not_available(page, stack, shoot):
    open_as(page, stack, "/app/admin/whatsapp/messages", "admin")
    expect(page.get_by_role("heading", name="Mensajes, costes y calidad", level=1)).to_be_visible()
    expect(page.get_by_label("Panadería", exact=True)).to_contain_text(DEMO_BAKERIES[0][1])
    for section in ("#log-status", "#costs-status", "#quality-status", "#templates-status"):
        expect(page.locator(section)).not_to_have_text("Cargando…")
    if not stack.notification_url:
        expect(page.locator("#log-status")).to_contain_text("no disponible")
        expect(page.locator("#costs-status")).to_contain_text("no disponible")
        expect(page.locator("#quality-status")).to_contain_text("no disponible")
        expect(page.locator("#templates-status")).to_contain_text("no disponible")
        expect(page.locator("#api-version-warning")).to_be_hidden()
    shoot(page, "admin-messages")


def test_no_page_logs_a_console_error_or_a_failed_request(context, needs_notification):
    """Issue 17: every page (sign-in, both admin pages, the owner's) loads with a clean console: no error logged
    (the missing /favicon.ico was one), no failed request, no response of 400 or more; each page's icon loads."""
    stack = needs_notification
    tenant_id, _ = bakery(9)
    pages = [
        ("/app/", None, None),
        ("/app/admin/whatsapp", "admin", None),
        ("/app/admin/whatsapp/messages", "admin", None),
        ("/app/settings/notifications", "owner", tenant_id),
    ]
    for path, role, tenant in pages:
        tab = context.new_page()
        problems: list[str] = []
        tab.on("console", lambda m, out=problems: out.append(f"console {m.text}") if m.type == "error" else None)
        tab.on("pageerror", lambda e, out=problems: out.append(f"pageerror {e}"))
        tab.on("requestfailed", lambda r, out=problems: out.append(f"failed {r.url} {r.failure}"))
        tab.on("response", lambda r, out=problems: out.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        if role:
            open_as(tab, stack, path, role, tenant)
        else:
            tab.goto(path)
        tab.wait_for_load_state("networkidle")
        expect(tab.locator("h1")).to_be_visible()
        icon = tab.evaluate(
            "fetch(document.querySelector('link[rel=icon]').href).then(r => [r.status, r.headers.get('content-type')])"
        )
        assert icon[0] == 200 and icon[1].startswith("image/svg+xml"), (path, icon)
        assert problems == [], f"{path}: {problems}"
        tab.close()


# -- with the notification service: a purchase order end to end ------------------------------------------------


def test_purchase_order_message_reaches_delivered_and_only_its_owner_sees_it(
    context, page, needs_notification_webhooks, shoot
):
    stack = needs_notification_webhooks
    tenant_id, _ = bakery(6)
    other_id, _ = bakery(7)
    stack.assign(tenant_id, number(6))
    stack.set_whatsapp(tenant_id, True)
    supplier = "+34600111222"
    response = stack.post_purchase_order(tenant_id, supplier, "PO-BROWSER-1")
    assert response.status_code in (200, 202), response.text

    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    item = page.locator("#latest-list li.message", has_text=supplier)
    for _ in range(30):
        page.get_by_role("button", name="Actualizar").click()
        if item.count() and item.first.get_attribute("data-status") in ("delivered", "read"):
            break
        page.wait_for_timeout(1000)
    expect(item.first).to_have_attribute("data-status", re.compile("^(delivered|read)$"))
    expect(item.first).to_contain_text(re.compile("Entregado|Leído"))
    # issue 17: who and which order, not only the phone
    expect(item.first.locator(".message__to")).to_have_text(f"Pedido PO-BROWSER-1 a Harinas del Norte · {supplier}")
    shoot(page, "owner-settings-messages")

    other = context.new_page()
    open_as(other, stack, "/app/settings/notifications", "owner", other_id)
    expect(other.locator("#latest-status")).to_have_text("Aún no se ha enviado ningún mensaje.")
    expect(other.locator("#latest-list li")).to_have_count(0)
    other.close()

    admin = context.new_page()
    open_as(admin, stack, "/app/admin/whatsapp/messages", "admin")
    admin.get_by_label("Panadería", exact=True).select_option(tenant_id)
    admin.get_by_role("button", name="Filtrar").click()
    row = admin.locator("#messages-body tr[data-message-id]", has_text=supplier)
    expect(row.first).to_be_visible()
    expect(row.first.locator(".message-supplier")).to_have_text("Harinas del Norte")
    expect(row.first.locator("td.message-order")).to_have_text("PO-BROWSER-1")
    expect(admin.get_by_role("columnheader", name="Pedido", exact=True).first).to_be_visible()
    row.first.get_by_role("button", name=re.compile("Ver intentos")).click()
    expect(admin.locator(".detail-row").first).to_contain_text("Intento 1")
    shoot(admin, "admin-messages-with-data")
    # costs: our estimate beside Meta's figure (the sync reads the sandbox's pricing_analytics) and the difference
    stack.sync_now()
    admin.get_by_role("button", name="Ver costes").click()
    cost_row = admin.locator(f"#costs-body tr[data-tenant-id='{tenant_id}']")
    expect(cost_row).to_be_visible()
    expect(admin.get_by_role("columnheader", name="Según Meta (EUR)")).to_be_visible()
    expect(admin.get_by_role("columnheader", name="Diferencia (EUR)")).to_be_visible()
    expect(cost_row.locator("td[data-meta]")).not_to_have_text("—")
    expect(cost_row.locator("td[data-difference]")).not_to_have_text("—")
    expect(admin.locator("#costs-status")).to_contain_text("Meta facturó")
    admin.close()


def test_owner_sends_a_test_message(page, needs_notification):
    stack = needs_notification
    tenant_id, _ = bakery(6)
    if not stack.settings(tenant_id)["whatsapp_phone_number_id"]:
        stack.assign(tenant_id, number(6))
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    page.get_by_label("Tu teléfono móvil").fill("+34 600 999 888")
    page.get_by_role("button", name="Enviar prueba").click()
    expect(page.locator("#test-result")).to_have_text(re.compile("Mensaje de prueba en cola"))
    expect(page.locator("#latest-list li.message", has_text="Prueba a").first).to_be_visible()


def test_owner_downloads_the_purchase_order_pdf(page, needs_notification, tmp_path):
    """Issue 17 through real processes: a purchase order with lines is sent with its PDF (uploaded to the sandbox);
    the owner's page downloads that PDF from the notification service with the bearer token, in Chromium."""
    import io

    from pypdf import PdfReader

    stack = needs_notification
    tenant_id, _ = bakery(10)  # a bakery no other notification scenario uses: its settings are read fresh
    if not stack.settings(tenant_id)["whatsapp_phone_number_id"]:
        stack.assign(tenant_id, number(10))
    stack.set_whatsapp(tenant_id, True)
    supplier = "+34600111444"
    lines = [
        {"product": "Harina de fuerza", "quantity": "25", "unit": "kg", "unit_price": "0.90", "line_total": "22.50"},
        {"product": "Levadura fresca", "quantity": "2", "unit": "kg", "unit_price": "4.25", "line_total": "8.50"},
    ]
    response = stack.post_purchase_order(
        tenant_id,
        supplier,
        "PO-PDF-1",
        purchase_order={"lines": lines, "total_amount": "31.00"},
        bakery={"name": "Panadería La Espiga", "address": "Calle del Trigo 4, Toledo"},
    )
    assert response.status_code in (200, 202), response.text

    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    item = page.locator("#latest-list li.message", has_text=supplier)
    download_button = item.get_by_role("button", name="Descargar el pedido (PDF)")
    for _ in range(30):
        if item.count() and item.first.get_attribute("data-status") not in ("queued", "sending"):
            break
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Actualizar").click()
    expect(item.first).to_have_attribute("data-status", re.compile("^(sent|delivered|read)$"))
    with page.expect_download() as info:
        download_button.first.click()
    download = info.value
    assert download.suggested_filename == "PO-PO-PDF-1.pdf"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    text = PdfReader(io.BytesIO(path.read_bytes())).pages[0].extract_text()
    assert "Pedido de compra PO-PDF-1" in text and "Levadura fresca" in text and "31,00 €" in text
    assert "Panadería La Espiga" in text


def test_owner_sees_the_supplier_decision_reply_and_opt_out(context, page, needs_notification_webhooks, shoot):
    """Issue 16 through real processes: the sandbox's supplier taps "Confirmar" on the purchase order and writes a
    reply; another supplier writes BAJA. The owner's page shows the decision, the reply and the opted-out supplier;
    the admin's page shows what suppliers wrote."""
    stack = needs_notification_webhooks
    tenant_id, _ = bakery(8)
    stack.assign(tenant_id, number(8))
    stack.set_whatsapp(tenant_id, True)
    supplier, leaving = "+34600333444", "+34600555666"
    for phone, po in ((supplier, "PO-BROWSER-TAP"), (leaving, "PO-BROWSER-BAJA")):
        response = stack.post_purchase_order(tenant_id, phone, po)
        assert response.status_code in (200, 202), response.text
    admin_headers = stack.headers("admin")
    with httpx.Client(timeout=15) as client:
        wamid = None
        for _ in range(60):
            listed = client.get(
                f"{stack.notification_url}/api/v1/messages", params={"tenant_id": tenant_id}, headers=admin_headers
            ).json()["items"]
            found = [m for m in listed if m["recipient_phone"] == supplier and m["wamid"]]
            if found:
                wamid = found[0]["wamid"]
                break
            time.sleep(0.5)
        assert wamid, "the purchase order was not sent"
        tapped = client.post(f"{stack.sandbox_url}/_sandbox/messages/{wamid}/tap", json={"button": "confirm"})
        assert tapped.status_code == 200, tapped.text
        for phone, text in ((supplier, "Lo llevo el martes"), (leaving, "BAJA")):
            sent = client.post(
                f"{stack.sandbox_url}/_sandbox/inbound",
                json={"from": phone, "phone_number_id": number(8), "text": text},
            )
            assert sent.status_code == 200, sent.text

    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    item = page.locator("#latest-list li.message", has_text="Pedido PO-BROWSER-TAP a Harinas del Norte · " + supplier)
    decision = item.locator("[data-decision='confirmed']")
    for _ in range(30):
        page.get_by_role("button", name="Actualizar").click()
        if decision.count() and item.locator(".message__replies li").count():
            break
        page.wait_for_timeout(1000)
    expect(decision).to_contain_text("El proveedor confirmó el pedido")
    expect(item.locator(".message__replies")).to_contain_text("Lo llevo el martes")
    expect(page.locator("#opted-out-list li", has_text=leaving)).to_contain_text("BAJA")
    expect(
        page.locator(
            "#latest-list li.message", has_text="Respuesta al proveedor por el pedido PO-BROWSER-TAP · " + supplier
        ).first
    ).to_be_visible()
    shoot(page, "owner-settings-supplier-replies")

    admin = context.new_page()
    open_as(admin, stack, "/app/admin/whatsapp/messages", "admin")
    expect(admin.locator("#inbound-body tr[data-outcome='decision']").first).to_contain_text("Confirmar")
    expect(admin.locator("#inbound-body tr[data-outcome='opted_out']").first).to_contain_text(leaving)
    admin.close()
