"""Phone-number and template management endpoints: fields, paging, filters, create/delete."""

from __future__ import annotations

import httpx
import pytest

from wa_sandbox.seed import load_seed, seed_phone_number_ids

from .conftest import AUTH, PNID, WABA_ID


async def test_seed_loader() -> None:
    seed = load_seed()
    assert seed["waba"]["id"] == WABA_ID
    numbers = seed["phone_numbers"]
    assert len(numbers) == 10
    assert numbers[0]["display_phone_number"] == "+34 612 345 678"
    assert numbers[-1]["display_phone_number"] == "+34 612 345 687"
    assert numbers[0]["verified_name"] == "Panadería Sol"
    assert numbers[1]["verified_name"] == "Horno de Lola"
    assert len({n["verified_name"] for n in numbers}) == 10
    assert seed_phone_number_ids() == [f"2000000000000{i:02d}" for i in range(1, 11)]
    es = next(t for t in seed["templates"] if t["language"] == "es")
    assert es["components"][0]["text"] == (
        "Hola {{1}}, has recibido una nueva orden de compra {{2}} por un total de {{3}}."
    )
    assert (es["status"], es["category"]) == ("APPROVED", "UTILITY")


async def test_list_numbers_default_fields(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v23.0/{WABA_ID}/phone_numbers", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert len(body["data"]) == 10
    assert set(body["data"][0]) == {"verified_name", "display_phone_number", "id", "quality_rating"}
    assert body["data"][0]["display_phone_number"] == "+34 612 345 678"
    assert "next" not in body["paging"] and "previous" not in body["paging"]


async def test_list_numbers_paging_walks_everything(client: httpx.AsyncClient) -> None:
    url: str | None = f"/v23.0/{WABA_ID}/phone_numbers?limit=4&fields=id,status,throughput,messaging_limit_tier"
    seen: list[str] = []
    pages = 0
    while url:
        body = (await client.get(url, headers=AUTH)).json()
        pages += 1
        for item in body["data"]:
            assert set(item) == {"id", "status", "throughput", "messaging_limit_tier"}
            assert item["throughput"] == {"level": "STANDARD"}
        seen.extend(item["id"] for item in body["data"])
        assert body["paging"]["cursors"]["before"] and body["paging"]["cursors"]["after"]
        url = body["paging"].get("next")
    assert pages == 3
    assert seen == seed_phone_number_ids()

    second = (await client.get(f"/v23.0/{WABA_ID}/phone_numbers?limit=4", headers=AUTH)).json()
    page2 = (await client.get(second["paging"]["next"], headers=AUTH)).json()
    back = (await client.get(page2["paging"]["previous"], headers=AUTH)).json()
    assert [i["id"] for i in back["data"]] == [i["id"] for i in second["data"]]


async def test_list_numbers_errors(client: httpx.AsyncClient) -> None:
    wrong_waba = await client.get("/v23.0/123/phone_numbers", headers=AUTH)
    assert wrong_waba.json()["error"]["error_subcode"] == 33
    bad_field = await client.get(f"/v23.0/{WABA_ID}/phone_numbers?fields=id,colour", headers=AUTH)
    assert bad_field.status_code == 400
    assert "nonexisting field (colour)" in bad_field.json()["error"]["message"]
    bad_cursor = await client.get(f"/v23.0/{WABA_ID}/phone_numbers?after=%%%", headers=AUTH)
    assert bad_cursor.json()["error"]["code"] == 100
    assert (await client.get(f"/v23.0/{WABA_ID}/phone_numbers")).json()["error"]["code"] == 190


async def test_read_one_number(client: httpx.AsyncClient) -> None:
    fields = (
        "quality_rating,status,messaging_limit_tier,throughput,name_status,verified_name,"
        "display_phone_number,code_verification_status,whatsapp_business_manager_messaging_limit"
    )
    response = await client.get(f"/v23.0/{PNID}?fields={fields}", headers=AUTH)
    assert response.json() == {
        "quality_rating": "GREEN",
        "status": "CONNECTED",
        "messaging_limit_tier": "TIER_2K",
        "throughput": {"level": "STANDARD"},
        "name_status": "APPROVED",
        "verified_name": "Panadería Sol",
        "display_phone_number": "34612345678",
        "code_verification_status": "VERIFIED",
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
        "id": PNID,
    }
    default = (await client.get(f"/v23.0/{PNID}", headers=AUTH)).json()
    assert default["id"] == PNID and default["platform_type"] == "CLOUD_API"
    missing = await client.get("/v23.0/424242", headers=AUTH)
    assert missing.json()["error"]["message"].startswith("Unsupported get request.")
    waba = (await client.get(f"/v23.0/{WABA_ID}", headers=AUTH)).json()
    assert waba["id"] == WABA_ID and waba["currency"] == "EUR"


async def test_list_templates_and_filters(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v23.0/{WABA_ID}/message_templates", headers=AUTH)).json()
    seeded = {
        (name, lang)
        for name in ("po_notification", "po_notification_document", "inventory_alert", "production_alert")
        for lang in ("es", "en")
    }
    assert {(t["name"], t["language"]) for t in body["data"]} == seeded
    first = body["data"][0]
    assert {"name", "language", "status", "category", "components", "id"} <= set(first)
    assert first["status"] == "APPROVED" and first["category"] == "UTILITY"

    es = (await client.get(f"/v23.0/{WABA_ID}/message_templates?language=es", headers=AUTH)).json()
    assert [t["language"] for t in es["data"]] == ["es", "es", "es", "es"]
    approved = (await client.get(f"/v23.0/{WABA_ID}/message_templates?status=approved", headers=AUTH)).json()
    assert len(approved["data"]) == 8
    none = (await client.get(f"/v23.0/{WABA_ID}/message_templates?name=zzz", headers=AUTH)).json()
    assert none == {"data": []}
    fields = (await client.get(f"/v23.0/{WABA_ID}/message_templates?fields=name,status", headers=AUTH)).json()
    assert set(fields["data"][0]) == {"name", "status", "id"}

    page1 = (await client.get(f"/v23.0/{WABA_ID}/message_templates?limit=4", headers=AUTH)).json()
    assert len(page1["data"]) == 4 and "next" in page1["paging"]
    page2 = (await client.get(page1["paging"]["next"], headers=AUTH)).json()
    assert len(page2["data"]) == 4 and "next" not in page2["paging"]
    assert page1["data"][0]["id"] != page2["data"][0]["id"]

    one = (await client.get(f"/v23.0/{page1['data'][0]['id']}?fields=name,status", headers=AUTH)).json()
    assert one == {"name": "po_notification", "status": "APPROVED", "id": page1["data"][0]["id"]}


NEW_TEMPLATE = {
    "name": "order_ready",
    "language": "es_ES",
    "category": "utility",
    "components": [{"type": "BODY", "text": "Tu pedido {{1}} está listo.", "example": {"body_text": [["123"]]}}],
}


async def test_create_template_pending_then_duplicate(client: httpx.AsyncClient) -> None:
    created = await client.post(f"/v23.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE, headers=AUTH)
    assert created.status_code == 200
    body = created.json()
    assert body["status"] == "PENDING" and body["category"] == "UTILITY" and body["id"]

    duplicate = await client.post(f"/v23.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE, headers=AUTH)
    assert duplicate.status_code == 400
    error = duplicate.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388024)
    assert error["error_user_title"] == "Content in This Language Already Exists"

    other_language = {**NEW_TEMPLATE, "language": "en_US"}
    assert (
        await client.post(f"/v23.0/{WABA_ID}/message_templates", json=other_language, headers=AUTH)
    ).status_code == 200

    pending = (await client.get(f"/v23.0/{WABA_ID}/message_templates?status=PENDING", headers=AUTH)).json()
    assert {t["language"] for t in pending["data"]} == {"es_ES", "en_US"}
    send = {
        "messaging_product": "whatsapp",
        "to": "+34600111222",
        "type": "template",
        "template": {"name": "order_ready", "language": {"code": "es_ES"}},
    }
    not_approved = await client.post(f"/v23.0/{PNID}/messages", json=send, headers=AUTH)
    assert not_approved.json()["error"]["code"] == 132001


@pytest.mark.parametrize(
    "change",
    [{"name": "Bad Name"}, {"language": "spanish"}, {"category": "SPAM"}, {"components": []}, {"components": "x"}],
)
async def test_create_template_validation(client: httpx.AsyncClient, change: dict[str, object]) -> None:
    response = await client.post(f"/v23.0/{WABA_ID}/message_templates", json={**NEW_TEMPLATE, **change}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


async def test_delete_template(client: httpx.AsyncClient) -> None:
    await client.post(f"/v23.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE, headers=AUTH)
    deleted = await client.delete(f"/v23.0/{WABA_ID}/message_templates?name=order_ready", headers=AUTH)
    assert deleted.json() == {"success": True}
    left = (await client.get(f"/v23.0/{WABA_ID}/message_templates?name=order_ready", headers=AUTH)).json()
    assert left == {"data": []}
    again = await client.delete(f"/v23.0/{WABA_ID}/message_templates?name=order_ready", headers=AUTH)
    assert again.status_code == 400


async def test_unknown_graph_path(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v23.0/{WABA_ID}/subscribed_apps/extra", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2500
