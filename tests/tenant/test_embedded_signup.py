"""Issue 18: a bakery's own account connected through Meta's Tech Provider onboarding after Embedded Signup (code →
business token in a 0600 file → subscribed_apps → number registration → account stored → number assigned)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from bakery_shared.logging import redact
from tenant_service.migrate import upgrade
from tests.tenant.conftest import GRAPH, VERSION, _client, graph_number, make_settings, new_tenant

WABA3 = "100000000000003"
PNID = "500000000000001"
BUSINESS_TOKEN = "EAAG-business-token-from-the-code-7c6b5a"
APP_SECRET = "embedded-app-secret-0123456789"
SIGNUP = "/api/v1/admin/whatsapp/accounts/embedded-signup"


def mock_signup(router: respx.Router, **fail: tuple[int, dict[str, Any]]) -> dict[str, respx.Route]:
    """Meta's four answers; ``fail`` maps a step (exchange, subscribe, register, number) to its error answer."""

    def answer(step: str, ok: dict[str, Any]) -> httpx.Response:
        status, body = fail.get(step, (200, ok))
        return httpx.Response(status, json=body)

    return {
        "exchange": router.post(f"{GRAPH}/{VERSION}/oauth/access_token").mock(
            return_value=answer("exchange", {"access_token": BUSINESS_TOKEN, "token_type": "bearer"})
        ),
        "subscribe": router.post(f"{GRAPH}/{VERSION}/{WABA3}/subscribed_apps").mock(
            return_value=answer("subscribe", {"success": True})
        ),
        "register": router.post(f"{GRAPH}/{VERSION}/{PNID}/register").mock(
            return_value=answer("register", {"success": True})
        ),
        "number": router.get(f"{GRAPH}/{VERSION}/{PNID}").mock(
            return_value=answer("number", {**graph_number(9), "id": PNID, "display_phone_number": "+34 611 222 333"})
        ),
    }


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "secrets"


@pytest.fixture
async def app_client(database_url, graph, secrets_dir) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, database_url)
    settings = make_settings(
        database_url,
        whatsapp_app_id="100000000000099",
        whatsapp_app_secret=APP_SECRET,
        whatsapp_account_secrets_dir=secrets_dir,
    )
    async for client in _client(settings):
        yield client


def body(tenant_id: str, **extra: Any) -> dict[str, Any]:
    return {"code": "AQD-one-time-code", "waba_id": WABA3, "phone_number_id": PNID, "tenant_id": tenant_id,
            "pin": "123456", **extra}  # fmt: skip


async def test_connect_a_bakery_own_account(app_client, tokens, graph, secrets_dir, caplog):
    caplog.set_level(logging.DEBUG)
    routes = mock_signup(graph)
    tid = await new_tenant(app_client, tokens, "Horno Propio")
    r = await app_client.post(SIGNUP, json=body(tid), headers=tokens.admin())
    assert r.status_code == 201, r.text
    result = r.json()
    [path] = secrets_dir.glob(f"waba-{WABA3}-*.token")  # one file per attempt
    account = result["account"]
    assert account["waba_id"] == WABA3 and account["kind"] == "tenant_owned" and account["tenant_id"] == tid
    assert account["token_ref"] == f"file:{path}" and account["display_name"] == "Horno Propio"
    assert account["numbers"][0]["assigned_tenant_id"] == tid
    assert result["assignment"]["phone_number_id"] == PNID
    assert result["assignment"]["display_phone_number"] == "+34 611 222 333"

    assert path.read_text() == BUSINESS_TOKEN
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700

    exchange = routes["exchange"].calls.last.request
    form = dict(httpx.QueryParams(exchange.content.decode()))
    assert form["client_id"] == "100000000000099" and form["code"] == "AQD-one-time-code"
    assert not exchange.url.params  # the app secret and the code travel in the body, never in a URL
    assert routes["subscribe"].calls.last.request.headers["authorization"] == f"Bearer {BUSINESS_TOKEN}"
    register = routes["register"].calls.last.request
    assert json.loads(register.content) == {"messaging_product": "whatsapp", "pin": "123456"}

    internal = await app_client.get(f"/internal/v1/tenants/{tid}/notification-settings", headers=tokens.service())
    assert internal.json()["waba_id"] == WABA3 and internal.json()["account_kind"] == "tenant_owned"
    assert internal.json()["token_ref"] == f"file:{path}"
    owner = await app_client.get(f"/internal/v1/whatsapp/phone-numbers/{PNID}/tenant", headers=tokens.service())
    assert owner.json()["tenant_id"] == tid and owner.json()["waba_id"] == WABA3
    audit = (await app_client.get("/api/v1/admin/whatsapp/accounts/audit", headers=tokens.admin())).json()
    assert [(e["action"], e["waba_id"]) for e in audit] == [("connect", WABA3)]

    # httpx logs the exchange's URL (with the app secret) at INFO: configure_logging sets it to WARNING and its
    # handler's filter redacts every registered secret; our own lines never carry them
    ours = "\n".join(rec.getMessage() for rec in caplog.records if not rec.name.startswith(("httpx", "httpcore")))
    for text in (r.text, internal.text, json.dumps(audit), ours, redact(caplog.text)):
        assert BUSINESS_TOKEN not in text and APP_SECRET not in text
        assert '"123456"' not in text  # the PIN

    again = await app_client.post(SIGNUP, json=body(tid), headers=tokens.admin())
    assert again.status_code == 409 and again.json()["code"] == "account_exists"


@pytest.mark.parametrize(
    ("step", "number", "status"),
    [("exchange", 1, 422), ("subscribe", 3, 422), ("register", 4, 422), ("number", 5, 422)],
)
async def test_a_failing_step_leaves_nothing_behind(app_client, tokens, graph, secrets_dir, step, number, status):
    error = {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
    mock_signup(graph, **{step: (400, error)})
    tid = await new_tenant(app_client, tokens)
    r = await app_client.post(SIGNUP, json=body(tid), headers=tokens.admin())
    assert r.status_code == status, r.text
    assert r.json()["code"] == "embedded_signup_failed"
    assert f"step {number} of 5" in r.json()["detail"]
    assert BUSINESS_TOKEN not in r.text
    assert list(secrets_dir.glob("*.token")) == []  # the attempt's token file went with its failure
    listing = (await app_client.get("/api/v1/admin/whatsapp/accounts", headers=tokens.admin())).json()
    assert WABA3 not in [a["waba_id"] for a in listing]
    settings = await app_client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.admin())
    assert settings.json()["whatsapp_phone_number_id"] == ""


async def test_meta_unreachable_mid_way_is_502_naming_the_step(app_client, tokens, graph, secrets_dir):
    mock_signup(graph)
    graph.post(f"{GRAPH}/{VERSION}/{PNID}/register").mock(side_effect=httpx.ConnectError("refused"))
    tid = await new_tenant(app_client, tokens)
    r = await app_client.post(SIGNUP, json=body(tid), headers=tokens.admin())
    assert r.status_code == 502 and "step 4 of 5 (register the number)" in r.json()["detail"]
    assert list(secrets_dir.glob("*.token")) == []  # the attempt's token file went with its failure


async def test_refusals_before_meta_is_asked(app_client, tokens, graph):
    routes = mock_signup(graph)
    tid = await new_tenant(app_client, tokens)
    for bad, field in ((body(tid, pin="12345"), "pin"), (body(tid, waba_id="x1"), "waba_id")):
        r = await app_client.post(SIGNUP, json=bad, headers=tokens.admin())
        assert r.status_code == 422 and field in r.json()["detail"]
    r = await app_client.post(SIGNUP, json=body("00000000-0000-4000-8000-000000000000"), headers=tokens.admin())
    assert r.status_code == 404 and r.json()["code"] == "tenant_not_found"
    assert not routes["exchange"].called


async def test_app_credentials_missing_is_503(sqlite_url, tokens, graph):
    await asyncio.to_thread(upgrade, sqlite_url)
    async for client in _client(make_settings(sqlite_url)):
        tid = await new_tenant(client, tokens)
        r = await client.post(SIGNUP, json=body(tid), headers=tokens.admin())
        assert r.status_code == 503 and r.json()["code"] == "whatsapp_app_not_configured"
        assert "WHATSAPP_APP_ID" in r.json()["detail"] and "WHATSAPP_APP_SECRET" in r.json()["detail"]
