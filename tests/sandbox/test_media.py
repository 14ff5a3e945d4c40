"""The sandbox's media: upload (multipart), GET /<MEDIA_ID>, the download URL, Meta's limits and errors, and the
document header of a template send that must name a known media id (issue 17)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from wa_sandbox import media as media_module

from .conftest import AUTH, CUSTOMER, PNID
from .test_send import assert_graph_error

PDF = b"%PDF-1.4\n% a small document\n%%EOF\n"


async def upload(
    client: httpx.AsyncClient, content: bytes = PDF, mime: str = "application/pdf", **form: Any
) -> httpx.Response:
    data = {"messaging_product": "whatsapp", "type": mime, **form}
    return await client.post(
        f"/v23.0/{PNID}/media", data=data, files={"file": ("PO-1.pdf", content, mime)}, headers=AUTH
    )


def document_send(media_id: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": "po_notification_document",
            "language": {"code": "es"},
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "document", "document": {"id": media_id, "filename": "PO-1.pdf"}}],
                },
                {"type": "body", "parameters": [{"type": "text", "text": t} for t in ("Ana", "PO-1", "10,00 €")]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "p"}],
                },
            ],
        },
    }


async def test_upload_read_and_download(client: httpx.AsyncClient) -> None:
    response = await upload(client)
    assert response.status_code == 200, response.text
    media_id = response.json()["id"]
    assert media_id.isdigit()
    node = await client.get(f"/v23.0/{media_id}", headers=AUTH)
    assert node.status_code == 200
    info = node.json()
    assert info["mime_type"] == "application/pdf"
    assert info["file_size"] == len(PDF)
    assert info["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert info["id"] == media_id
    path = httpx.URL(info["url"]).raw_path.decode()
    assert (await client.get(path)).status_code == 401  # the download needs the bearer token
    download = await client.get(path, headers=AUTH)
    assert download.status_code == 200
    assert download.content == PDF and download.headers["content-type"] == "application/pdf"


async def test_upload_errors(client: httpx.AsyncClient) -> None:
    error = assert_graph_error(await upload(client, mime="application/zip"), 400, 100)
    assert "application/pdf" in error["message"] and "application/zip" in error["message"]
    assert_graph_error(await upload(client, messaging_product="sms"), 400, 100)
    assert_graph_error(await upload(client, content=b""), 400, 131053)
    no_file = await client.post(f"/v23.0/{PNID}/media", data={"messaging_product": "whatsapp"}, headers=AUTH)
    assert "file is required" in assert_graph_error(no_file, 400, 100)["message"]
    unauthenticated = await client.post(f"/v23.0/{PNID}/media", data={"messaging_product": "whatsapp"})
    assert unauthenticated.status_code == 401


async def test_a_file_over_its_type_limit_is_refused(client: httpx.AsyncClient, monkeypatch: Any) -> None:
    monkeypatch.setitem(media_module.SUPPORTED, "application/pdf", 10)  # 100 MB in a test would be slow
    error = assert_graph_error(await upload(client), 400, 131053)
    assert "at most 10" in error["error_data"]["details"]


async def test_a_document_header_needs_a_known_media_id(client: httpx.AsyncClient) -> None:
    url = f"/v23.0/{PNID}/messages"
    error = assert_graph_error(await client.post(url, json=document_send("123456789"), headers=AUTH), 400, 131053)
    assert "123456789" in error["error_data"]["details"]
    media_id = (await upload(client)).json()["id"]
    sent = await client.post(url, json=document_send(media_id), headers=AUTH)
    assert sent.status_code == 200, sent.text


async def test_expired_media_is_unknown(client: httpx.AsyncClient) -> None:
    media_id = (await upload(client)).json()["id"]
    state = client.app.state.sandbox  # type: ignore[attr-defined]
    state.media[media_id].uploaded_at -= media_module.MEDIA_LIFETIME_SECONDS + 1
    assert (await client.get(f"/v23.0/{media_id}", headers=AUTH)).status_code == 400
    assert_graph_error(
        await client.post(f"/v23.0/{PNID}/messages", json=document_send(media_id), headers=AUTH), 400, 131053
    )
