from __future__ import annotations

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
