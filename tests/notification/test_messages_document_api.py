"""GET /api/v1/messages/{id}/document: the purchase order's PDF, for the admin or the bakery's owner (issue 17);
and the event route's 422 that names the wrong line. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import uuid

from pypdf import PdfReader

from .conftest import Env
from .domain.test_po_document import event_with_lines
from .helpers import po_event, token


async def test_the_owner_and_the_admin_download_the_pdf(any_env: Env) -> None:
    env = any_env
    tenant = env.tenants.add()
    other = env.tenants.add(phone_number_id="200000000000002")
    body = event_with_lines(3)
    body["tenant_id"] = str(tenant)
    body["supplier"]["language"] = "en"
    accepted = await env.post_event(body)
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["notification_id"]
    url = f"/api/v1/messages/{message_id}/document"

    owner = await env.client.get(url, headers=token(env.settings, "owner", tenant))
    assert owner.status_code == 200, owner.text
    assert owner.headers["content-type"] == "application/pdf"
    assert owner.headers["content-disposition"] == 'attachment; filename="PO-PO-2026-0042.pdf"'
    text = PdfReader(io.BytesIO(owner.content)).pages[0].extract_text()
    assert "Purchase order PO-2026-0042" in text and "Harina T002" in text and "€30.00" in text

    admin = await env.client.get(url, headers=token(env.settings, "admin"))
    assert admin.status_code == 200 and admin.content == owner.content  # rendering is deterministic

    stranger = await env.client.get(url, headers=token(env.settings, "owner", other))
    assert stranger.status_code == 404 and b"%PDF" not in stranger.content
    assert (await env.client.get(url)).status_code == 401
    assert (await env.client.get(url, headers=token(env.settings, "service"))).status_code == 403


async def test_no_document_for_an_event_without_lines_or_an_unknown_message(any_env: Env) -> None:
    env = any_env
    tenant = env.tenants.add()
    message_id = (await env.post_event(po_event(tenant))).json()["notification_id"]
    admin = token(env.settings, "admin")
    none = await env.client.get(f"/api/v1/messages/{message_id}/document", headers=admin)
    assert none.status_code == 404 and "no document" in none.json()["detail"]
    unknown = await env.client.get(f"/api/v1/messages/{uuid.uuid4()}/document", headers=admin)
    assert unknown.status_code == 404


async def test_the_event_route_names_the_wrong_line(any_env: Env) -> None:
    env = any_env
    tenant = env.tenants.add()
    body = event_with_lines(3)
    body["tenant_id"] = str(tenant)
    body["purchase_order"]["lines"][2]["line_total"] = "10.01"
    body["purchase_order"]["total_amount"] = "30.01"
    response = await env.post_event(body)
    assert response.status_code == 422
    assert "lines[2] ('Harina T002'): line_total 10.01 is not quantity 4 × unit_price 2.50" in response.json()["detail"]
