"""Fault injection (errors, latency, timeouts, dropped connections, probabilistic) and the control API."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bakery_shared.settings import ProductionConfigError
from wa_sandbox.app import create_app

from .conftest import AUTH, PNID, PNID2, InLoopServer, make_settings, template_body

URL = f"/v23.0/{PNID}/messages"


async def test_next_n_sends_fail(client: httpx.AsyncClient) -> None:
    rule = await client.post("/_sandbox/faults", json={"count": 2, "code": 131000, "http_status": 500})
    assert rule.status_code == 200 and rule.json()["id"] == 1
    for _ in range(2):
        response = await client.post(URL, json=template_body(), headers=AUTH)
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == 131000 and error["message"] == "(#131000) Something went wrong"
        assert error["error_data"]["messaging_product"] == "whatsapp" and error["fbtrace_id"]
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    assert (await client.get("/_sandbox/faults")).json() == []
    assert len((await client.get("/_sandbox/messages")).json()) == 1  # failed sends are not recorded


async def test_fault_for_one_number_with_custom_fields(client: httpx.AsyncClient) -> None:
    await client.post(
        "/_sandbox/faults",
        json={"phone_number_id": PNID2, "code": 2, "http_status": 503, "is_transient": True, "error_type": "GraphMethodException"},
    )  # fmt: skip
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    response = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["code"], error["type"], error["is_transient"]) == (2, "GraphMethodException", True)


async def test_fault_default_http_status_follows_code(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"code": 131048})
    response = await client.post(URL, json=template_body(), headers=AUTH)
    assert response.status_code == 400 and response.json()["error"]["code"] == 131048


async def test_latency(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"action": "latency", "seconds": 0.2})
    started = time.monotonic()
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_probabilistic_faults_are_seeded(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await client.post("/_sandbox/reset")
        await client.post("/_sandbox/limits", json={"pair_limit": 1000})
        await client.post(
            "/_sandbox/faults", json={"count": None, "probability": 0.3, "code": 131000, "http_status": 500, "seed": 7}
        )
        codes = []
        for _ in range(40):
            codes.append((await client.post(URL, json=template_body(), headers=AUTH)).status_code)
        return codes

    first = await run()
    assert set(first) == {200, 500}
    assert 4 <= first.count(500) <= 24
    assert await run() == first  # same seed, same sequence
    await client.delete("/_sandbox/faults")
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200


async def test_timeout_and_drop_over_real_http() -> None:
    app = create_app(make_settings())
    server = InLoopServer(app)
    await server.start()
    try:
        # a short timeout only for the call the fault delays: the control calls get a loaded CI machine's margin
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            await client.post("/_sandbox/faults", json={"action": "timeout", "seconds": 1.0})
            with pytest.raises(httpx.ReadTimeout):
                await client.post(URL, json=template_body(), headers=AUTH, timeout=0.3)

            await client.post("/_sandbox/faults", json={"action": "drop"})
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(URL, json=template_body(), headers=AUTH)
            assert (await client.get("/_sandbox/messages")).json() == []

            # accept=True: the client never sees the answer, but the message was sent (the ambiguous case)
            await client.post("/_sandbox/faults", json={"action": "drop", "accept": True})
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(URL, json=template_body(callback_data="ambiguous"), headers=AUTH)
            records = (await client.get("/_sandbox/messages")).json()
            assert [r["biz_opaque_callback_data"] for r in records] == ["ambiguous"]
            assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    finally:
        await asyncio.sleep(0)
        await app.state.dispatcher.aclose()
        server.server.force_exit = True
        await server.stop()


async def test_reset_restores_seed(client: httpx.AsyncClient) -> None:
    await client.post(URL, json=template_body(), headers=AUTH)
    await client.post("/_sandbox/token/expire")
    await client.post(f"/_sandbox/phone_numbers/{PNID}", json={"status": "DISCONNECTED", "quality_rating": "RED"})
    await client.post("/_sandbox/templates/status", json={"name": "po_notification", "status": "DISABLED"})
    await client.post("/_sandbox/faults", json={"count": 5})
    await client.post("/_sandbox/knobs", json={"knobs": {"duplicate": True}})
    state = (await client.get("/_sandbox/state")).json()
    assert state["token"]["valid"] is False and len(state["faults"]) == 1
    assert state["knobs"]["global"] == {"duplicate": True}

    assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
    state = (await client.get("/_sandbox/state")).json()
    assert state["counts"] == {"messages": 0, "webhooks": 0}
    assert state["token"]["valid"] is True and state["faults"] == [] and state["knobs"]["global"] == {}
    assert state["phone_numbers"][0]["status"] == "CONNECTED" and state["phone_numbers"][0]["quality_rating"] == "GREEN"
    assert {t["status"] for t in state["templates"]} == {"APPROVED"}
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200


async def test_knob_scopes_and_clear(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/knobs", json={"knobs": {"status_delay_seconds": 0.5}})
    await client.post("/_sandbox/knobs", json={"knobs": {"duplicate": True}})  # merges
    await client.post("/_sandbox/knobs", json={"phone_number_id": PNID, "knobs": {"stop_after": "sent"}})
    await client.post("/_sandbox/knobs", json={"to": "+34 600 111 222", "knobs": {"fail_code": 131026}})
    view = (await client.post("/_sandbox/knobs", json={"next": 2, "knobs": {"reorder": True}})).json()
    assert view["global"] == {"status_delay_seconds": 0.5, "duplicate": True}
    assert view["phone_numbers"] == {PNID: {"stop_after": "sent"}}
    assert view["recipients"] == {"34600111222": {"fail_code": 131026}}
    assert view["next"] == [{"knobs": {"reorder": True}, "remaining": 2, "phone_number_id": None}]
    unknown = await client.post("/_sandbox/knobs", json={"phone_number_id": "1", "knobs": {}})
    assert unknown.status_code == 404
    cleared = (await client.delete("/_sandbox/knobs")).json()
    assert cleared["global"] == {} and cleared["next"] == []


async def test_control_validation(client: httpx.AsyncClient) -> None:
    assert (await client.post(f"/_sandbox/phone_numbers/{PNID}", json={"quality_rating": "PURPLE"})).status_code == 422
    assert (await client.post("/_sandbox/phone_numbers/1", json={})).status_code == 404
    assert (await client.post("/_sandbox/templates/status", json={"status": "APPROVED"})).status_code == 422
    assert (
        await client.post("/_sandbox/templates/status", json={"name": "x", "status": "APPROVED"})
    ).status_code == 404
    assert (await client.post("/_sandbox/inbound", json={"from": "+34600111222"})).status_code == 422
    assert (await client.post("/_sandbox/faults", json={"action": "explode"})).status_code == 422
    assert (await client.get("/_sandbox/health")).json() == {"status": "ok"}


def test_refuses_production() -> None:
    with pytest.raises(ProductionConfigError):
        create_app(make_settings(environment="production", jwt_secret="a-real-production-secret-0123456789abcdef"))


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from wa_sandbox.settings import SandboxSettings

    for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_BUSINESS_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SANDBOX_PORT", "9100")
    monkeypatch.setenv("SANDBOX_WEBHOOK_URL", "off")
    monkeypatch.setenv("SANDBOX_THROUGHPUT_PER_SECOND", "5")
    monkeypatch.setenv("SANDBOX_PAIR_LIMIT", "3")
    settings = SandboxSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sandbox_port == 9100 and settings.sandbox_webhook_url == ""
    assert settings.sandbox_throughput_per_second == 5 and settings.sandbox_pair_limit == 3
    assert settings.valid_access_token == "sandbox-access-token"  # dev fallback
    assert settings.app_secret == "sandbox-app-secret"
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "from-env")
    assert SandboxSettings(_env_file=None).valid_access_token == "from-env"  # type: ignore[call-arg]


async def test_custom_seed_file(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from wa_sandbox.seed import load_seed

    seed = load_seed()
    seed["phone_numbers"] = seed["phone_numbers"][:2]
    path = Path(str(tmp_path)) / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    app = create_app(make_settings(sandbox_seed_file=path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        body = (await client.get("/v23.0/100000000000001/phone_numbers", headers=AUTH)).json()
        assert len(body["data"]) == 2


@pytest.mark.parametrize(("code", "http_status"), [(131062, 400), (130497, 403)])
async def test_codes_added_in_2026_have_meta_shaped_errors(
    client: httpx.AsyncClient, code: int, http_status: int
) -> None:
    await client.post("/_sandbox/faults", json={"code": code})
    response = await client.post(URL, json=template_body(), headers=AUTH)
    error = response.json()["error"]
    assert response.status_code == http_status and error["code"] == code
    assert error["message"].startswith(f"(#{code}) ") and "Unknown error" not in error["message"]
    assert error["error_data"]["details"]


async def test_the_messaging_limit_is_one_for_the_whole_portfolio(client: httpx.AsyncClient) -> None:
    # setting it through one number sets it for every number (Meta: portfolio-level limits since 2025-10-07)
    await client.post(f"/_sandbox/phone_numbers/{PNID}", json={"messaging_limit_tier": "TIER_10K", "notify": False})
    fields = "whatsapp_business_manager_messaging_limit"
    other = await client.get(f"/v23.0/{PNID2}?fields={fields}", headers=AUTH)
    assert other.json()[fields] == "TIER_10K"
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    answer = await client.post("/_sandbox/portfolio", json={"messaging_limit": "TIER_UNLIMITED", "notify": False})
    assert answer.json() == {"messaging_limit": "TIER_UNLIMITED", "unique_recipients_24h": 1, "webhook_id": None}
    listed = await client.get(f"/v23.0/100000000000001/phone_numbers?fields={fields}&limit=100", headers=AUTH)
    assert {n[fields] for n in listed.json()["data"]} == {"TIER_UNLIMITED"}
    assert (await client.post("/_sandbox/portfolio", json={"messaging_limit": "TIER_3"})).status_code == 422
