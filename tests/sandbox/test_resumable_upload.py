"""Meta's Resumable Upload API in the sandbox (issue 18): a session for a file, its bytes, the handle, and the handle
as the sample of a template's media header (``example.header_handle``), with Meta's refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wa_sandbox.settings import DEV_APP_ID

from .conftest import AUTH, TOKEN, WABA_ID
from .test_send import assert_graph_error

PDF = b"%PDF-1.4\n% a purchase order\n" + b"0" * 200
OAUTH = {"Authorization": f"OAuth {TOKEN}"}
SESSIONS = f"/v23.0/{DEV_APP_ID}/uploads"


async def open_session(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    query = {"file_name": "po.pdf", "file_length": str(len(PDF)), "file_type": "application/pdf", **params}
    return await client.post(SESSIONS, params={k: v for k, v in query.items() if v is not None}, headers=AUTH)


async def upload(client: httpx.AsyncClient, content: bytes = PDF, file_type: str = "application/pdf") -> str:
    opened = await open_session(client, file_length=str(len(content)), file_type=file_type)
    assert opened.status_code == 200, opened.text
    sent = await client.post(f"/v23.0/{opened.json()['id']}", content=content, headers={**OAUTH, "file_offset": "0"})
    assert sent.status_code == 200, sent.text
    handle: str = sent.json()["h"]
    return handle


def document_template(handle: Any = None, *, fmt: str = "DOCUMENT", example: Any = None) -> dict[str, Any]:
    header: dict[str, Any] = {"type": "HEADER", "format": fmt}
    if example is not None:
        header["example"] = example
    elif handle is not None:
        header["example"] = {"header_handle": [handle]}
    return {
        "name": "po_with_pdf",
        "language": "es",
        "category": "UTILITY",
        "components": [
            header,
            {"type": "BODY", "text": "Pedido {{1}} adjunto.", "example": {"body_text": [["OC-1"]]}},
        ],
    }


async def test_session_bytes_handle_and_template(client: httpx.AsyncClient) -> None:
    opened = await open_session(client)
    assert opened.status_code == 200, opened.text
    session = opened.json()["id"]
    assert session.startswith("upload:") and "?" not in session
    assert (await client.get(f"/v23.0/{session}", headers=AUTH)).json() == {"id": session, "file_offset": 0}

    sent = await client.post(f"/v23.0/{session}", content=PDF, headers={**OAUTH, "file_offset": "0"})
    assert sent.status_code == 200, sent.text
    handle = sent.json()["h"]
    assert set(sent.json()) == {"h"} and handle
    assert (await client.get(f"/v23.0/{session}", headers=AUTH)).json() == {"id": session, "file_offset": len(PDF)}

    created = await client.post(f"/v23.0/{WABA_ID}/message_templates", json=document_template(handle), headers=AUTH)
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "PENDING"
    read = (await client.get(f"/v23.0/{created.json()['id']}?fields=components", headers=AUTH)).json()
    assert read["components"][0]["example"]["header_handle"] == [handle]


async def test_bearer_works_as_well_as_oauth_and_images_fit_image_headers(client: httpx.AsyncClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"1" * 64
    opened = await open_session(client, file_type="image/png", file_length=str(len(png)), file_name=None)
    sent = await client.post(f"/v23.0/{opened.json()['id']}", content=png, headers={**AUTH, "file_offset": "0"})
    assert sent.status_code == 200, sent.text
    body = document_template(sent.json()["h"], fmt="IMAGE")
    assert (await client.post(f"/v23.0/{WABA_ID}/message_templates", json=body, headers=AUTH)).status_code == 200


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"file_type": "text/plain"}, "Param file_type must be one of {application/pdf, image/jpeg, image/jpg"),
        ({"file_type": None}, "The parameter file_type is required."),
        ({"file_length": None}, "The parameter file_length is required."),
        ({"file_length": "0"}, "Param file_length must be a positive integer"),
        ({"file_length": "abc"}, "Param file_length must be a positive integer"),
        ({"file_length": str(5 * 1024 * 1024 + 1), "file_type": "image/jpeg"}, "at most 5242880 bytes"),
        ({"file_length": str(101 * 1024 * 1024)}, "at most 104857600 bytes"),
        ({"file_name": ""}, "file_name must be 1 to 255 characters"),
    ],
)
async def test_session_refusals(client: httpx.AsyncClient, params: dict[str, Any], words: str) -> None:
    error = assert_graph_error(await open_session(client, **params), 400, 100)
    assert words in error["message"]


async def test_session_needs_the_apps_id_and_a_valid_token(client: httpx.AsyncClient) -> None:
    query = {"file_length": "10", "file_type": "application/pdf"}
    wrong_app = await client.post("/v23.0/123456/uploads", params=query, headers=AUTH)
    assert_graph_error(wrong_app, 400, 100, 33)
    assert_graph_error(await client.post(SESSIONS, params=query), 401, 190)
    assert_graph_error(await client.post(SESSIONS, params=query, headers={"Authorization": "Bearer x"}), 401, 190)


async def test_upload_refusals(client: httpx.AsyncClient) -> None:
    session = (await open_session(client)).json()["id"]
    url = f"/v23.0/{session}"
    missing = await client.post(url, content=PDF, headers=OAUTH)
    assert "file_offset is required" in assert_graph_error(missing, 400, 100)["message"]
    wrong_offset = await client.post(url, content=PDF, headers={**OAUTH, "file_offset": "10"})
    assert "does not match the upload's offset 0" in assert_graph_error(wrong_offset, 400, 100)["message"]
    short = await client.post(url, content=PDF[:-1], headers={**OAUTH, "file_offset": "0"})
    assert "needs the rest of the file" in assert_graph_error(short, 400, 100)["message"]
    long = await client.post(url, content=PDF + b"x", headers={**OAUTH, "file_offset": "0"})
    assert_graph_error(long, 400, 100)
    assert (await client.get(url, headers=AUTH)).json()["file_offset"] == 0
    assert_graph_error(await client.post(url, content=PDF, headers={"file_offset": "0"}), 401, 190)
    unknown = await client.post("/v23.0/upload:nope", content=PDF, headers={**OAUTH, "file_offset": "0"})
    assert_graph_error(unknown, 400, 100, 33)
    assert_graph_error(await client.get("/v23.0/upload:nope", headers=AUTH), 400, 100, 33)
    # after a refusal the right request still works, and asking again gives the same handle
    done = await client.post(url, content=PDF, headers={**OAUTH, "file_offset": "0"})
    again = await client.post(url, content=b"", headers={**OAUTH, "file_offset": str(len(PDF))})
    assert done.status_code == again.status_code == 200 and done.json() == again.json()


@pytest.mark.parametrize(
    "example",
    [
        {"header_handle": ["4::not-a-handle-of-this-sandbox"]},
        {"header_handle": ["https://example.com/po.pdf"]},
        {"header_handle": "4::a-string-instead-of-a-list"},
    ],
)
async def test_a_media_header_needs_a_handle_this_sandbox_issued(client: httpx.AsyncClient, example: Any) -> None:
    body = document_template(example=example)
    error = assert_graph_error(await client.post(f"/v23.0/{WABA_ID}/message_templates", json=body, headers=AUTH), 400,
                               100, 2388273)  # fmt: skip
    assert (
        error["error_user_msg"] == "Templates with DOCUMENT header type need an example/sample, but it was not provided"
    )
    listed = await client.get(f"/v23.0/{WABA_ID}/message_templates?name=po_with_pdf", headers=AUTH)
    assert listed.json()["data"] == []


async def test_a_handle_of_another_file_type_does_not_fit(client: httpx.AsyncClient) -> None:
    handle = await upload(client)  # a PDF
    body = document_template(handle, fmt="IMAGE")
    error = assert_graph_error(await client.post(f"/v23.0/{WABA_ID}/message_templates", json=body, headers=AUTH), 400,
                               100, 2388273)  # fmt: skip
    assert "application/pdf" in error["error_data"]["details"]


async def test_a_media_header_without_an_example_is_still_2388043(client: httpx.AsyncClient) -> None:
    body = document_template()
    assert_graph_error(await client.post(f"/v23.0/{WABA_ID}/message_templates", json=body, headers=AUTH), 400, 100,
                       2388043)  # fmt: skip


async def test_handles_are_the_apps_and_serve_every_account(client: httpx.AsyncClient) -> None:
    handle = await upload(client)
    account = (await client.post("/_sandbox/accounts", json={"access_token": "token-b"})).json()
    headers = {"Authorization": "Bearer token-b"}
    created = await client.post(
        f"/v23.0/{account['waba_id']}/message_templates", json=document_template(handle), headers=headers
    )
    assert created.status_code == 200, created.text
