"""Template categories in the sandbox: Meta re-categorising a template (``template_category_update``), the
Marketing Messages endpoint, and the account-wide refusals 131063 (marketing off on /messages) and 131064
(classification-violation limit)."""

from __future__ import annotations

import httpx

from .conftest import AUTH, PNID, WABA_ID, Receiver, template_body, wait_until
from .test_send import assert_graph_error

Hooked = tuple[httpx.AsyncClient, Receiver]
MESSAGES = f"/v25.0/{PNID}/messages"
MARKETING = f"/v25.0/{PNID}/marketing_messages"


async def test_recategorise_sends_template_category_update(hooked: Hooked) -> None:
    client, receiver = hooked
    changed = await client.post(
        "/_sandbox/templates/category", json={"name": "po_notification", "language": "es", "category": "MARKETING"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["templates"][0]["webhook_id"] is not None

    async def arrived() -> bool:
        return bool(receiver.received)

    await wait_until(arrived)
    entry = receiver.received[0].json["entry"][0]
    assert entry["id"] == WABA_ID
    change = entry["changes"][0]
    assert change["field"] == "template_category_update"
    assert change["value"] == {
        "message_template_id": 300000000000001,
        "message_template_name": "po_notification",
        "message_template_language": "es",
        "previous_category": "UTILITY",
        "new_category": "MARKETING",
    }
    listed = (await client.get(f"/v25.0/{WABA_ID}/message_templates?language=es", headers=AUTH)).json()
    assert listed["data"][0]["category"] == "MARKETING"  # the sync reads the category from here
    en = (await client.get(f"/v25.0/{WABA_ID}/message_templates?language=en", headers=AUTH)).json()
    assert en["data"][0]["category"] == "UTILITY"  # only that translation changed
    again = await client.post(
        "/_sandbox/templates/category", json={"name": "po_notification", "language": "es", "category": "MARKETING"}
    )
    assert again.json()["templates"][0]["webhook_id"] is None  # no change, no webhook
    missing = await client.post("/_sandbox/templates/category", json={"name": "nope", "category": "MARKETING"})
    assert missing.status_code == 404
    bad = await client.post("/_sandbox/templates/category", json={"name": "po_notification", "category": "PROMO"})
    assert bad.status_code == 422


async def test_marketing_messages_endpoint(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/templates/category", json={"name": "po_notification", "category": "MARKETING"})
    sent = await client.post(MARKETING, json=template_body(), headers=AUTH)
    assert sent.status_code == 200, sent.text
    assert sent.json()["messages"][0]["message_status"] == "accepted"
    text = {"messaging_product": "whatsapp", "to": "+34600111222", "type": "text", "text": {"body": "hola"}}
    assert_graph_error(await client.post(MARKETING, json=text, headers=AUTH), 400, 100)
    records = (await client.get("/_sandbox/messages")).json()
    assert [(r["endpoint"], r["category"]) for r in records] == [("marketing_messages", "marketing")]


async def test_131063_marketing_off_for_cloud_api(client: httpx.AsyncClient) -> None:
    """Meta may turn marketing templates off on /messages: a MARKETING template there answers 131063, the same
    send to /marketing_messages goes through, and a UTILITY template still goes to /messages."""
    policy = await client.post("/_sandbox/account", json={"marketing_via_cloud_api": False})
    assert policy.json() == {"marketing_via_cloud_api": False, "classification_limit": False}
    assert (await client.post(MESSAGES, json=template_body(), headers=AUTH)).status_code == 200  # still UTILITY
    await client.post("/_sandbox/templates/category", json={"name": "po_notification", "category": "MARKETING"})
    refused = assert_graph_error(await client.post(MESSAGES, json=template_body(), headers=AUTH), 400, 131063)
    assert "marketing_messages" in refused["error_data"]["details"]
    assert (await client.post(MARKETING, json=template_body(), headers=AUTH)).status_code == 200
    await client.post("/_sandbox/account", json={"marketing_via_cloud_api": True})
    assert (await client.post(MESSAGES, json=template_body(), headers=AUTH)).status_code == 200


async def test_131064_classification_limit_refuses_every_send(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/account", json={"classification_limit": True})
    for url in (MESSAGES, MARKETING):
        error = assert_graph_error(await client.post(url, json=template_body(), headers=AUTH), 400, 131064)
        assert "template classification violations" in error["error_data"]["details"]
    assert (await client.get("/_sandbox/state")).json()["account"]["classification_limit"] is True
    await client.post("/_sandbox/reset")
    assert (await client.post(MESSAGES, json=template_body(), headers=AUTH)).status_code == 200
