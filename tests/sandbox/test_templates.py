"""Template creation in the sandbox (``POST /{version}/{WABA_ID}/message_templates``): Meta's checks of the
components and their examples, and the review (PENDING → APPROVED, or REJECTED by the knob) with its webhook."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import AUTH, WABA_ID, Receiver, wait_until

URL = f"/v23.0/{WABA_ID}/message_templates"


def template(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "stock_alert",
        "language": "es",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Aviso de stock"},
            {"type": "BODY", "text": "Quedan {{1}} unidades de {{2}}.", "example": {"body_text": [["3", "Harina"]]}},
            {"type": "FOOTER", "text": "Panadería Sol"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Visto"}]},
        ],
    }
    body.update(change)
    return body


def with_component(kind: str, replacement: dict[str, Any] | None) -> list[dict[str, Any]]:
    components = [c for c in template()["components"] if c["type"] != kind]
    return components + ([replacement] if replacement else [])


async def test_a_complete_template_is_created_pending(client: httpx.AsyncClient) -> None:
    created = await client.post(URL, json=template(), headers=AUTH)
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "PENDING"
    read = (await client.get(f"/v23.0/{created.json()['id']}?fields=components,status", headers=AUTH)).json()
    assert [c["type"] for c in read["components"]] == ["HEADER", "BODY", "FOOTER", "BUTTONS"]


@pytest.mark.parametrize(
    ("kind", "component"),
    [
        ("BODY", {"type": "BODY", "text": "Quedan {{1}} unidades de {{2}}."}),
        ("BODY", {"type": "BODY", "text": "Quedan {{1}} unidades.", "example": {}}),
        ("HEADER", {"type": "HEADER", "format": "TEXT", "text": "Aviso {{1}}"}),
        ("HEADER", {"type": "HEADER", "format": "DOCUMENT"}),
    ],
)
async def test_a_variable_without_its_example_is_2388043(
    client: httpx.AsyncClient, kind: str, component: dict[str, Any]
) -> None:
    response = await client.post(URL, json=template(components=with_component(kind, component)), headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388043)
    assert error["error_user_msg"] == f"component of type {kind} is missing expected field(s) (example)"
    assert (await client.get(f"{URL}?name=stock_alert", headers=AUTH)).json()["data"] == []


@pytest.mark.parametrize(
    ("kind", "component", "subcode", "words"),
    [
        ("BODY", {"type": "BODY", "text": "{{1}} unidades.", "example": {"body_text": [["3"]]}}, 2388299, "start"),
        ("BODY", {"type": "BODY", "text": "Quedan {{1}}", "example": {"body_text": [["3"]]}}, 2388299, "end"),
        ("BODY", {"type": "BODY", "text": "x" * 1025}, 2388040, "1024"),
        ("FOOTER", {"type": "FOOTER", "text": "y" * 61}, 2388040, "60"),
        ("BODY", {"type": "BODY", "text": "A {{1}} b {{2}}.", "example": {"body_text": [["3"]]}}, None, "one"),
        ("BODY", {"type": "BODY", "text": "A {{1}} b {{3}}.", "example": {"body_text": [["3", "4"]]}}, None, "order"),
        ("FOOTER", {"type": "FOOTER", "text": "Hola {{1}}"}, None, "cannot have variables"),
        ("HEADER", {"type": "HEADER", "format": "GIF"}, None, "format"),
        ("BUTTONS", {"type": "BUTTONS", "buttons": []}, None, "1 to 10"),
        ("BUTTONS", {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "z" * 26}]}, None, "25"),
        ("BUTTONS", {"type": "BUTTONS", "buttons": [{"type": "CALL_ME", "text": "a"}]}, None, "type"),
        ("HEADER", {"type": "WIDGET"}, None, "unknown component type"),
    ],
)
async def test_components_meta_refuses(
    client: httpx.AsyncClient, kind: str, component: dict[str, Any], subcode: int | None, words: str
) -> None:
    response = await client.post(URL, json=template(components=with_component(kind, component)), headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100 and error.get("error_subcode") == subcode
    assert words in error["error_data"]["details"]


async def test_review_approves_then_the_knob_rejects_with_a_webhook_for_each(hooked: tuple[Any, Receiver]) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/limits", json={"template_auto_approve_seconds": 0.05})
    knob = await client.post(
        "/_sandbox/templates/review", json={"name": "stock_alert", "status": "REJECTED", "reason": "INVALID_FORMAT"}
    )
    assert knob.json() == {"stock_alert": {"status": "REJECTED", "reason": "INVALID_FORMAT"}}
    rejected = (await client.post(URL, json=template(), headers=AUTH)).json()
    approved = (await client.post(URL, json=template(name="order_ready"), headers=AUTH)).json()

    async def both() -> bool:
        return len(receiver.received) >= 2

    await wait_until(both)
    events = {
        v["message_template_id"]: v for v in (r.json["entry"][0]["changes"][0]["value"] for r in receiver.received)
    }
    assert events[int(rejected["id"])]["event"] == "REJECTED"
    assert events[int(rejected["id"])]["reason"] == "INVALID_FORMAT"
    assert events[int(approved["id"])]["event"] == "APPROVED"
    read = (await client.get(f"/v23.0/{rejected['id']}?fields=status,rejected_reason", headers=AUTH)).json()
    assert (read["status"], read["rejected_reason"]) == ("REJECTED", "INVALID_FORMAT")

    cleared = await client.post("/_sandbox/templates/review", json={"name": "stock_alert", "status": None})
    assert cleared.json() == {}
    bad = await client.post("/_sandbox/templates/review", json={"status": "PAUSED"})
    assert bad.status_code == 422


async def test_a_waba_without_templates_lists_none(client: httpx.AsyncClient) -> None:
    client.app.state.sandbox.templates.clear()  # type: ignore[attr-defined]
    listed = await client.get(f"{URL}?fields=name,status", headers=AUTH)
    assert listed.status_code == 200 and listed.json()["data"] == []
