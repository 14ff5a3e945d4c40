"""The purchase order as a PDF through the dispatcher's send (dispatch/batch.py) against the sandbox: the upload is
the send's first step, its media id is kept and reused by a retry, a failed upload is retried like a failed send,
and an event without lines keeps the text-only template (issue 17). SQLite and PostgreSQL."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from bakery_shared.db import transaction
from notification_service.dispatch.worker import Dispatcher
from notification_service.models import whatsapp_messages as M
from tests.notification.domain.test_po_document import event_with_lines
from tests.notification.helpers import po_event, token
from tests.notification.sandbox_stack import E2E, NUMBER, SANDBOX_TOKEN, eventually, sandbox_stack


@pytest.fixture
async def e2e(database_url: str) -> AsyncIterator[E2E]:
    async with sandbox_stack(database_url, retry_base_seconds=0.05) as stack:
        yield stack


async def post_event(e2e: E2E, body: dict[str, Any]) -> str:
    body["supplier"]["phone"] = "+34 600 000 111"  # not one of the sandbox's business numbers
    r = await e2e.api.post(
        "/api/v1/events/purchase-orders", json=body, headers=token(e2e.dispatcher.settings, "service")
    )
    assert r.status_code == 202, r.text
    return str(r.json()["notification_id"])


async def sandbox_media(e2e: E2E) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in (await e2e.sandbox.get("/_sandbox/media")).json()}


async def media_content(e2e: E2E, media_id: str) -> bytes:
    """The file as a client of Meta reads it: GET /<MEDIA_ID>, then its url with the bearer token."""
    auth = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    node = (await e2e.sandbox.get(f"/v23.0/{media_id}", headers=auth)).json()
    download = await e2e.sandbox.get(node["url"], headers=auth)
    assert download.status_code == 200
    return download.content


async def sends(e2e: E2E) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (await e2e.sandbox.get("/_sandbox/messages")).json()
    return records


async def drain_until(e2e: E2E, message_id: str, status: str) -> dict[str, Any]:
    async def reached() -> bool:
        await e2e.dispatcher.drain()
        now = await e2e.message(message_id)
        assert now["status"] != "failed", now
        return now["status"] in (status, "delivered", "read")

    await eventually(reached)
    return await e2e.message(message_id)


async def test_lines_send_the_pdf_in_a_document_header_with_the_buttons(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    body = event_with_lines(3)
    body["tenant_id"] = str(tenant)
    body["supplier"]["language"] = "en"
    message_id = await post_event(e2e, body)
    message = await drain_until(e2e, message_id, "sent")
    assert message["template_name"] == "po_notification_document"
    [record] = await sends(e2e)
    components = record["request"]["template"]["components"]
    header = components[0]
    assert header["type"] == "header"
    document = header["parameters"][0]["document"]
    assert document["filename"] == "PO-PO-2026-0042.pdf"
    assert [c["type"] for c in components] == ["header", "body", "button", "button"]  # the quick replies kept
    stored = (await sandbox_media(e2e))[document["id"]]
    assert stored["mime_type"] == "application/pdf"
    text = PdfReader(io.BytesIO(await media_content(e2e, document["id"]))).pages[0].extract_text()
    assert "Purchase order PO-2026-0042" in text and "€30.00" in text  # in the supplier's language


async def test_an_event_without_lines_keeps_the_text_template(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    message_id = await post_event(e2e, po_event(tenant))
    await drain_until(e2e, message_id, "sent")
    [record] = await sends(e2e)
    assert record["template_name"] == "po_notification"
    assert [c["type"] for c in record["request"]["template"]["components"]][0] == "body"
    assert await sandbox_media(e2e) == {}


async def test_a_failed_upload_is_retried_like_a_send(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    fault = {"endpoint": "media", "code": 131000, "http_status": 500, "count": 1}
    assert (await e2e.sandbox.post("/_sandbox/faults", json=fault)).status_code == 200
    body = event_with_lines(2)
    body["tenant_id"] = str(tenant)
    message_id = await post_event(e2e, body)
    message = await drain_until(e2e, message_id, "sent")
    assert (await e2e.sandbox.get("/_sandbox/faults")).json() == []  # the upload fault fired
    assert message["attempts"] == 2  # the failed upload was an attempt, retried like a failed send
    assert len(await sends(e2e)) == 1  # nothing was sent without its document
    assert len(await sandbox_media(e2e)) == 1


async def test_a_broken_upload_answer_is_retried_and_never_a_possible_duplicate(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    fault = {"endpoint": "media", "action": "drop", "count": 1}  # a truncated answer to the upload
    assert (await e2e.sandbox.post("/_sandbox/faults", json=fault)).status_code == 200
    body = event_with_lines(1)
    body["tenant_id"] = str(tenant)
    message_id = await post_event(e2e, body)
    message = await drain_until(e2e, message_id, "sent")
    assert message["attempts"] == 2 and message["possible_duplicates"] == 0
    assert len(await sends(e2e)) == 1


async def test_a_retry_reuses_the_uploaded_media(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    fault = {"endpoint": "messages", "code": 131000, "http_status": 500, "count": 1}
    assert (await e2e.sandbox.post("/_sandbox/faults", json=fault)).status_code == 200
    body = event_with_lines(2)
    body["tenant_id"] = str(tenant)
    message_id = await post_event(e2e, body)
    message = await drain_until(e2e, message_id, "sent")
    assert message["attempts"] == 2
    assert len(await sandbox_media(e2e)) == 1  # uploaded once, named by both attempts
    [record] = await sends(e2e)
    media_id = record["request"]["template"]["components"][0]["parameters"][0]["document"]["id"]
    assert media_id in await sandbox_media(e2e)


async def test_an_expired_media_id_is_uploaded_again(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    fault = {"endpoint": "messages", "code": 131000, "http_status": 500, "count": 2}  # one or two drains
    await e2e.sandbox.post("/_sandbox/faults", json=fault)
    body = event_with_lines(1)
    body["tenant_id"] = str(tenant)
    message_id = await post_event(e2e, body)
    await e2e.dispatcher.drain()
    async with transaction(e2e.dispatcher.sessions) as session:  # as if uploaded 29 days ago
        await session.execute(
            sa.update(M)
            .where(M.c.id == uuid.UUID(message_id))
            .values(media_uploaded_at=datetime.now(UTC) - timedelta(days=29, minutes=1))
        )
    await drain_until(e2e, message_id, "sent")
    assert len(await sandbox_media(e2e)) == 2


class _UploadTimesOut(httpx.AsyncBaseTransport):
    """The sandbox, except that the first media upload times out after it was sent (it may have landed)."""

    def __init__(self, sandbox: httpx.AsyncBaseTransport) -> None:
        self.sandbox = sandbox
        self.timed_out = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/media") and not self.timed_out:
            self.timed_out += 1
            raise httpx.ReadTimeout("slow upload", request=request)
        return await self.sandbox.handle_async_request(request)


async def test_an_upload_timeout_is_transient_never_an_ambiguous_send(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    transport = _UploadTimesOut(e2e.sandbox._transport)
    dispatcher = Dispatcher(
        e2e.dispatcher.settings, graph_transport=transport, tenant_transport=e2e.tenants.transport()
    )
    try:
        body = event_with_lines(1)
        body["tenant_id"] = str(tenant)
        message_id = await post_event(e2e, body)

        async def sent() -> bool:
            await dispatcher.drain()
            return (await e2e.message(message_id))["status"] in ("sent", "delivered", "read")

        await eventually(sent, timeout=5)  # an ambiguous failure would wait AMBIGUOUS_GRACE_SECONDS (30 s)
    finally:
        await dispatcher.aclose()
    message = await e2e.message(message_id)
    assert transport.timed_out == 1 and message["attempts"] == 2 and message["possible_duplicates"] == 0
