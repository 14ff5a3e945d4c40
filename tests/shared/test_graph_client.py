from __future__ import annotations

import json
import os
import time

import httpx
import pytest
import respx

from bakery_shared.graph import (
    AccessTokenProvider,
    GraphClient,
    GraphError,
    GraphTimeout,
    GraphTransportError,
)

BASE = "https://graph.example"


def client(tokens: AccessTokenProvider | None = None) -> GraphClient:
    return GraphClient(base_url=BASE, api_version="v23.0", tokens=tokens or AccessTokenProvider("tok"), timeout=2)


@respx.mock
async def test_send_template_payload_and_result():
    route = respx.post(f"{BASE}/v23.0/555/messages").mock(
        return_value=httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": "+34612345678", "wa_id": "34612345678"}],
                "messages": [{"id": "wamid.ABC"}],
            },
        )
    )
    c = client()
    result = await c.send_template(
        "555",
        to="+34612345678",
        template_name="po_notification",
        language="es",
        body_parameters=["Ana", "PO-1", "1.250,00 €"],
        biz_opaque_callback_data="n-1",
    )
    await c.aclose()
    assert result.wamid == "wamid.ABC" and result.wa_id == "34612345678"
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer tok"
    import json

    body = json.loads(sent.content)
    assert body["template"]["language"] == {"code": "es"}
    assert [p["text"] for p in body["template"]["components"][0]["parameters"]] == ["Ana", "PO-1", "1.250,00 €"]
    assert body["biz_opaque_callback_data"] == "n-1"


@respx.mock
async def test_typed_error_carries_meta_fields():
    respx.post(f"{BASE}/v23.0/555/messages").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "(#130429) Rate limit hit",
                    "type": "OAuthException",
                    "code": 130429,
                    "error_data": {"messaging_product": "whatsapp", "details": "throughput reached"},
                    "error_subcode": 2494055,
                    "fbtrace_id": "Az8",
                }
            },
        )
    )
    c = client()
    with pytest.raises(GraphError) as info:
        await c.send_template("555", to="+34612345678", template_name="t", language="es", body_parameters=["a"])
    await c.aclose()
    err = info.value
    assert (err.code, err.error_subcode, err.fbtrace_id, err.details) == (130429, 2494055, "Az8", "throughput reached")
    assert err.title == "Rate limit hit" and err.http_status == 400


@respx.mock
async def test_timeouts_are_ambiguous_and_connect_errors_are_not():
    route = respx.post(f"{BASE}/v23.0/555/messages")
    c = client()
    route.mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(GraphTimeout) as info:
        await c.send_template("555", to="+1", template_name="t", language="es", body_parameters=[])
    assert info.value.maybe_delivered is True
    route.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(GraphTransportError):
        await c.send_template("555", to="+1", template_name="t", language="es", body_parameters=[])
    route.mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(GraphError) as err:
        await c.send_template("555", to="+1", template_name="t", language="es", body_parameters=[])
    assert err.value.code is None and err.value.http_status == 502
    await c.aclose()


def test_token_file_is_reread_when_it_changes(tmp_path):
    path = tmp_path / "token"
    path.write_text("first-token\n")
    provider = AccessTokenProvider("env-token", path)
    assert provider.get() == "first-token"
    path.write_text("second-token-longer\n")
    future = time.time() + 5
    os.utime(path, (future, future))
    assert provider.get() == "second-token-longer"
    path.unlink()
    assert provider.get() == "env-token"


@respx.mock
async def test_token_echoed_by_meta_is_redacted_where_the_error_is_built(tmp_path):
    """Meta's code-190 message can echo the token. The GraphError (message, details, raw, str, repr) never holds
    it: neither the token in use, rotated in through the file a moment ago, nor any EAA…/JWT-shaped value."""
    path = tmp_path / "token"
    path.write_text("first-file-token-value\n")
    provider = AccessTokenProvider("env-token-value", path)
    c = client(provider)
    assert provider.get() == "first-file-token-value"
    rotated = "rotated-token-not-shaped-like-meta-0042"
    path.write_text(rotated + "\n")
    future = time.time() + 5
    os.utime(path, (future, future))
    meta_shaped = "EAAGm0PX4ZCpsBAKZCabc123def456ghi"
    jwt_shaped = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ"

    def echo(request: httpx.Request) -> httpx.Response:
        sent = request.headers["Authorization"].removeprefix("Bearer ")
        assert sent == rotated
        return httpx.Response(
            401,
            json={
                "error": {
                    "message": f"Malformed access token {sent}",
                    "type": "OAuthException",
                    "code": 190,
                    "error_data": {"details": f"also {meta_shaped} and {jwt_shaped}"},
                    "fbtrace_id": f"A-{sent}",
                }
            },
        )

    respx.post(f"{BASE}/v23.0/555/messages").mock(side_effect=echo)
    with pytest.raises(GraphError) as info:
        await c.send_template("555", to="+34612345678", template_name="t", language="es", body_parameters=["a"])
    await c.aclose()
    err = info.value
    assert err.code == 190 and err.is_token_problem
    assert err.message == "Malformed access token [REDACTED]"
    everything = " ".join([err.message, str(err.details), str(err.raw), str(err), repr(err), err.title])
    for secret in (rotated, meta_shaped, jwt_shaped, "first-file-token-value"):
        assert secret not in everything


def test_str_of_every_graph_exception_is_redacted():
    provider = AccessTokenProvider("registered-static-token-1234")
    assert provider.get() == "registered-static-token-1234"
    for exc in (
        GraphTimeout("timed out sending with registered-static-token-1234", maybe_delivered=True),
        GraphTransportError("connect failed: EAAGm0PX4ZCpsBAKZCabc123def456ghi"),
        GraphError(http_status=400, code=190, message="bad registered-static-token-1234", details="x"),
    ):
        assert "registered-static-token-1234" not in str(exc)
        assert "EAAGm0PX4ZC" not in str(exc)
        assert "[REDACTED]" in str(exc)


# ------------------------------------------------------------------ the aiohttp path (WHATSAPP_HTTP_TRANSPORT=aiohttp)


async def _local_graph(handler):  # a real HTTP server on a free loopback port
    from aiohttp import web

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def aiohttp_client(base: str, timeout: float = 2) -> GraphClient:
    return GraphClient(
        base_url=base, api_version="v23.0", tokens=AccessTokenProvider("tok"), timeout=timeout, http_transport="aiohttp"
    )


async def test_aiohttp_path_sends_the_same_request_and_parses_the_same_answers():
    import asyncio
    import json

    from aiohttp import web

    seen: list[tuple[str, str, str | None, dict]] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        seen.append((request.method, request.path_qs, request.headers.get("Authorization"), body))
        if request.path.startswith("/v23.0/err"):
            return web.json_response(
                {"error": {"message": "(#130429) Rate limit hit", "code": 130429, "fbtrace_id": "Az8", "type": "X"}},
                status=400,
            )
        if request.path.startswith("/v23.0/html"):
            return web.Response(status=502, text="<html>bad gateway</html>")
        if request.path.startswith("/v23.0/slow"):
            await asyncio.sleep(1.0)
        if request.method == "GET":
            return web.json_response({"id": "555", "status": "CONNECTED"})
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": "346"}],
                "messages": [{"id": "wamid.A", "message_status": "accepted"}],
            }
        )

    runner, base = await _local_graph(handler)
    c = aiohttp_client(base, timeout=0.3)
    try:
        result = await c.send_template(
            "555",
            to="+346",
            template_name="po",
            language="es",
            body_parameters=["Ana", "1.250,00 €"],
            biz_opaque_callback_data="n-1",
        )
        assert (result.wamid, result.wa_id, result.message_status) == ("wamid.A", "346", "accepted")
        method, path, auth, body = seen[-1]
        assert (method, path, auth) == ("POST", "/v23.0/555/messages", "Bearer tok")
        assert body == json.loads(json.dumps(body)) and body["biz_opaque_callback_data"] == "n-1"
        assert [p["text"] for p in body["template"]["components"][0]["parameters"]] == ["Ana", "1.250,00 €"]
        assert await c.get_phone_number("555", fields="id,status") == {"id": "555", "status": "CONNECTED"}
        assert seen[-1][:2] == ("GET", "/v23.0/555?fields=id,status")
        with pytest.raises(GraphError) as err:
            await c.send_template("err", to="+1", template_name="t", language="es", body_parameters=[])
        assert (err.value.code, err.value.http_status, err.value.fbtrace_id) == (130429, 400, "Az8")
        assert err.value.title == "Rate limit hit"
        with pytest.raises(GraphError) as bad:
            await c.send_template("html", to="+1", template_name="t", language="es", body_parameters=[])
        assert bad.value.code is None and bad.value.http_status == 502
        with pytest.raises(GraphTimeout) as slow:  # the request reached the server: maybe delivered
            await c.send_template("slow", to="+1", template_name="t", language="es", body_parameters=[])
        assert slow.value.maybe_delivered is True and "did not answer" in str(slow.value)
    finally:
        await c.aclose()
        await runner.cleanup()


async def test_aiohttp_path_connection_refused_is_never_sent():
    async def never(request):  # pragma: no cover - the server is gone before any request
        raise AssertionError

    runner, base = await _local_graph(never)
    await runner.cleanup()  # the port is closed now: nothing listens there
    c = aiohttp_client(base)
    try:
        with pytest.raises(GraphTransportError) as info:
            await c.send_template("555", to="+1", template_name="t", language="es", body_parameters=[])
        assert "Could not connect" in str(info.value)
    finally:
        await c.aclose()


@respx.mock
async def test_send_template_with_button_payloads_and_send_text():
    route = respx.post(f"{BASE}/v23.0/555/messages").mock(
        return_value=httpx.Response(200, json={"contacts": [{"wa_id": "34612345678"}], "messages": [{"id": "wamid.X"}]})
    )
    c = client()
    await c.send_template(
        "555", to="+34612345678", template_name="t", language="es", body_parameters=["a"], button_payloads=["p0", "p1"]
    )
    components = json.loads(route.calls[-1].request.content)["template"]["components"]
    assert components[1:] == [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "p0"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "p1"}],
        },
    ]
    result = await c.send_text("555", to="+34612345678", body="Gracias", biz_opaque_callback_data="notification:1")
    sent = json.loads(route.calls[-1].request.content)
    assert sent["type"] == "text" and sent["text"] == {"preview_url": False, "body": "Gracias"}
    assert sent["to"] == "+34612345678" and sent["biz_opaque_callback_data"] == "notification:1"
    assert result.wamid == "wamid.X"
    await c.aclose()


@respx.mock
async def test_create_template_posts_the_body_to_the_waba_and_types_meta_refusals():
    body = {"name": "po_notification", "language": "es", "category": "UTILITY", "components": []}
    route = respx.post(f"{BASE}/v23.0/100/message_templates").mock(
        side_effect=[
            httpx.Response(200, json={"id": "77", "status": "PENDING", "category": "UTILITY"}),
            httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                        "error_subcode": 2388024,
                        "error_user_title": "Content in This Language Already Exists",
                    }
                },
            ),
        ]
    )
    c = client()
    assert await c.create_template("100", body) == {"id": "77", "status": "PENDING", "category": "UTILITY"}
    sent = route.calls[0].request
    assert json.loads(sent.content) == body and sent.headers["Authorization"] == "Bearer tok"
    with pytest.raises(GraphError) as info:
        await c.create_template("100", body)
    await c.aclose()
    assert (info.value.code, info.value.error_subcode) == (100, 2388024)
    assert info.value.raw["error"]["error_user_title"] == "Content in This Language Already Exists"


@respx.mock
async def test_upload_media_is_multipart_and_returns_the_id():
    route = respx.post(f"{BASE}/v23.0/555/media").mock(return_value=httpx.Response(200, json={"id": "1234567890"}))
    c = client()
    media_id = await c.upload_media("555", content=b"%PDF-1.4 x", mime_type="application/pdf", filename="PO-1.pdf")
    assert media_id == "1234567890"
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer tok"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = sent.content
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in body
    assert b'name="type"\r\n\r\napplication/pdf' in body
    assert b'name="file"; filename="PO-1.pdf"' in body and b"%PDF-1.4 x" in body
    # the sends' errors: Graph errors typed, timeouts ambiguous, connect errors never sent
    route.mock(
        return_value=httpx.Response(400, json={"error": {"code": 131053, "message": "(#131053) Media upload error"}})
    )
    with pytest.raises(GraphError) as err:
        await c.upload_media("555", content=b"x", mime_type="application/pdf", filename="a.pdf")
    assert err.value.code == 131053
    route.mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(GraphTimeout):
        await c.upload_media("555", content=b"x", mime_type="application/pdf", filename="a.pdf")
    route.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(GraphTransportError):
        await c.upload_media("555", content=b"x", mime_type="application/pdf", filename="a.pdf")
    route.mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(GraphError, match="without a media id"):
        await c.upload_media("555", content=b"x", mime_type="application/pdf", filename="a.pdf")
    await c.aclose()


def test_template_payload_with_a_document_header_keeps_the_buttons():
    from bakery_shared.graph import template_payload

    payload = template_payload(
        to="+34612345678",
        template_name="po_notification_document",
        language="es",
        body_parameters=["Ana"],
        button_payloads=["p0", "p1"],
        header_document=("987", "PO-1.pdf"),
    )
    components = payload["template"]["components"]
    assert components[0] == {
        "type": "header",
        "parameters": [{"type": "document", "document": {"id": "987", "filename": "PO-1.pdf"}}],
    }
    assert [c["type"] for c in components] == ["header", "body", "button", "button"]
    assert (
        template_payload(to="+1", template_name="t", language="es", body_parameters=[])["template"]["components"][0][
            "type"
        ]
        == "body"
    )
