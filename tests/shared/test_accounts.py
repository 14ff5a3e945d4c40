"""Token references and the Graph client's per-account views (bakery_shared.accounts, issue 18)."""

from __future__ import annotations

import httpx
import pytest
import respx

from bakery_shared.accounts import AccountTokens, TokenRefError, parse_token_ref, token_ref_problem
from bakery_shared.graph import AccessTokenProvider, GraphClient, GraphError, GraphNotConfigured
from bakery_shared.logging import redact

BASE = "https://graph.example"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("settings", "settings", ""),
        ("file:/run/secrets/waba", "file", "/run/secrets/waba"),
        ("env:WABA_EU", "env", "WABA_EU"),
    ],
)
def test_token_refs_that_name_a_place(text: str, kind: str, value: str) -> None:
    ref = parse_token_ref(text)
    assert (ref.kind, ref.value, str(ref)) == (kind, value, text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("EAAG123secret", "never the token itself"),
        ("file:relative/path", "absolute path"),
        ("file:/run/../etc/passwd", "without '..'"),
        ("env:lower", "upper-case variable name"),
        ("env:", "upper-case variable name"),
        ("", "never the token itself"),
        ("file:/" + "a" * 600, "longer than"),
    ],
)
def test_token_refs_refused_with_what_to_write(text: str, says: str) -> None:
    with pytest.raises(TokenRefError, match=says.replace("(", r"\(").replace(".", r"\.")):
        parse_token_ref(text)


def test_token_ref_problem_names_what_is_missing(tmp_path, monkeypatch) -> None:
    token_file = tmp_path / "waba.token"
    assert "no file at" in (token_ref_problem(parse_token_ref(f"file:{token_file}")) or "")
    token_file.write_text("  \n")
    assert "is empty" in (token_ref_problem(parse_token_ref(f"file:{token_file}")) or "")
    token_file.write_text("tok-file\n")
    assert token_ref_problem(parse_token_ref(f"file:{token_file}")) is None
    monkeypatch.delenv("WABA_TEST_TOKEN", raising=False)
    assert "is not set" in (token_ref_problem(parse_token_ref("env:WABA_TEST_TOKEN")) or "")
    monkeypatch.setenv("WABA_TEST_TOKEN", "tok-env")
    assert token_ref_problem(parse_token_ref("env:WABA_TEST_TOKEN")) is None


def test_account_tokens_one_provider_per_reference(tmp_path, monkeypatch) -> None:
    default = AccessTokenProvider("tok-settings")
    token_file = tmp_path / "b.token"
    token_file.write_text("tok-b1")
    monkeypatch.setenv("WABA_C_TOKEN", "tok-c")
    tokens = AccountTokens(default)
    assert tokens.provider("") is default and tokens.provider("settings") is default
    b = tokens.provider(f"file:{token_file}")
    assert b is tokens.provider(f"file:{token_file}") and b.get() == "tok-b1"
    token_file.write_text("tok-b2-rotated")  # rotation without a restart, per account
    assert b.get() == "tok-b2-rotated"
    assert tokens.provider("env:WABA_C_TOKEN").get() == "tok-c"
    assert "tok-b2-rotated" not in redact("Meta said tok-b2-rotated is invalid")


@respx.mock
async def test_views_send_with_their_own_token_and_share_the_pool() -> None:
    route = respx.post(f"{BASE}/v25.0/555/messages").mock(
        return_value=httpx.Response(200, json={"messages": [{"id": "wamid.A"}], "contacts": [{"wa_id": "1"}]})
    )
    main = GraphClient(base_url=BASE, api_version="v25.0", tokens=AccessTokenProvider("tok-a"))
    view = main.with_tokens(AccessTokenProvider("tok-b"))
    await view.send_text("555", to="+34600000000", body="hi")
    await main.send_text("555", to="+34600000000", body="hi")
    assert [c.request.headers["authorization"] for c in route.calls] == ["Bearer tok-b", "Bearer tok-a"]
    await view.aclose()  # a view closes nothing: the client still works
    await main.send_text("555", to="+34600000000", body="hi")
    assert route.call_count == 3
    await main.aclose()
    with pytest.raises(GraphNotConfigured):
        await main.with_tokens(AccessTokenProvider("")).send_text("555", to="+34600000000", body="hi")


@respx.mock
async def test_upload_header_handle_is_meta_resumable_upload() -> None:
    opened = respx.post(f"{BASE}/v25.0/777/uploads").mock(
        return_value=httpx.Response(200, json={"id": "upload:MTphdHRh"})
    )
    sent = respx.post(f"{BASE}/v25.0/upload:MTphdHRh").mock(return_value=httpx.Response(200, json={"h": "4::aW1h"}))
    c = GraphClient(base_url=BASE, api_version="v25.0", tokens=AccessTokenProvider("tok"))
    handle = await c.upload_header_handle(
        "777", content=b"%PDF-1.4 demo", mime_type="application/pdf", filename="a.pdf"
    )
    assert handle == "4::aW1h"
    params = opened.calls.last.request.url.params
    assert (params["file_name"], params["file_length"], params["file_type"]) == ("a.pdf", "13", "application/pdf")
    upload = sent.calls.last.request
    assert upload.headers["authorization"] == "OAuth tok" and upload.headers["file_offset"] == "0"
    assert upload.content == b"%PDF-1.4 demo"
    sent.mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(GraphError, match="without a file handle"):
        await c.upload_header_handle("777", content=b"x", mime_type="application/pdf", filename="a.pdf")
    with pytest.raises(GraphNotConfigured, match="WHATSAPP_APP_ID"):
        await c.upload_header_handle("", content=b"x", mime_type="application/pdf", filename="a.pdf")
    await c.aclose()


@respx.mock
async def test_exchange_code_returns_a_token_that_never_prints() -> None:
    route = respx.post(f"{BASE}/v25.0/oauth/access_token").mock(
        return_value=httpx.Response(200, json={"access_token": "EAAbusinesstoken123", "token_type": "bearer"})
    )
    c = GraphClient(base_url=BASE, api_version="v25.0", tokens=AccessTokenProvider(""))
    token = await c.exchange_code(app_id="99", app_secret="app-secret-xyz", code="code-1")
    assert token == "EAAbusinesstoken123"
    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert not request.url.params  # the app secret and the code are in the form body, never in a URL
    assert request.content == b"client_id=99&client_secret=app-secret-xyz&code=code-1"
    assert "EAAbusinesstoken123" not in redact(f"got {token}") and "app-secret-xyz" not in redact("app-secret-xyz")
    route.mock(
        return_value=httpx.Response(
            400, json={"error": {"code": 100, "error_subcode": 36007, "message": "code has been used"}}
        )
    )
    with pytest.raises(GraphError) as err:
        await c.exchange_code(app_id="99", app_secret="app-secret-xyz", code="code-1")
    assert err.value.code == 100 and err.value.error_subcode == 36007
    await c.aclose()
