"""Several WhatsApp Business Accounts in the sandbox (issue 18): the seed WABA stays the first account and a client
that knows nothing of accounts sees what it always saw; each new account has its own token, numbers, messaging limit
and templates; a token acts only on its own account's objects (Meta's 100 / subcode 33 otherwise); webhooks name the
WABA of the number or template involved."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wa_sandbox.settings import DEV_APP_ID

from .conftest import AUTH, CUSTOMER, PNID, WABA_ID, Receiver, template_body, wait_until
from .test_send import assert_graph_error

Hooked = tuple[httpx.AsyncClient, Receiver]
B_WABA = "555000000000001"
B_TOKEN = "token-of-account-b"
B_AUTH = {"Authorization": f"Bearer {B_TOKEN}"}


async def add_account(client: httpx.AsyncClient, **change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "waba_id": B_WABA,
        "name": "Portfolio B",
        "access_token": B_TOKEN,
        "numbers": 3,
        "messaging_limit": 10000,
    }
    body.update(change)
    response = await client.post("/_sandbox/accounts", json=body)
    assert response.status_code == 200, response.text
    account: dict[str, Any] = response.json()
    return account


def assert_no_access(response: httpx.Response, object_id: str) -> None:
    """Meta's answer to a valid token used on an object of another account."""
    error = assert_graph_error(response, 400, 100, 33)
    assert error["type"] == "GraphMethodException"
    assert (
        f"Object with ID '{object_id}' does not exist, cannot be loaded due to missing permissions" in error["message"]
    )


# ------------------------------------------------------------------ one account: today's behaviour
async def test_the_seed_is_the_only_and_first_account(client: httpx.AsyncClient) -> None:
    accounts = (await client.get("/_sandbox/accounts")).json()
    assert len(accounts) == 1
    first = accounts[0]
    assert (first["waba_id"], first["kind"], first["messaging_limit"]) == (WABA_ID, "platform", 2000)
    assert first["messaging_limit_tier"] == "TIER_2K"
    assert first["token"] == {"valid": True, "expired_count": 0, "revoked_count": 0}
    assert first["subscribed_apps"] == [DEV_APP_ID]
    assert [n["id"] for n in first["phone_numbers"]][:2] == [PNID, "200000000000002"]
    assert len(first["phone_numbers"]) == 10 and all(n["registered"] for n in first["phone_numbers"])
    assert "access_token" not in first and "sandbox-access-token" not in str(accounts)
    state = (await client.get("/_sandbox/state")).json()
    assert state["waba"]["id"] == WABA_ID and state["token"]["valid"] is True
    assert all("pin" not in n for n in state["phone_numbers"])


async def test_token_controls_without_waba_id_act_on_the_first_account(client: httpx.AsyncClient) -> None:
    await add_account(client)
    assert (await client.post("/_sandbox/token/expire")).json() == {"expired": True}
    assert_graph_error(await client.get(f"/v23.0/{WABA_ID}", headers=AUTH), 401, 190, 463)
    assert (await client.get(f"/v23.0/{B_WABA}", headers=B_AUTH)).status_code == 200
    rotated = (await client.post("/_sandbox/token", json={"token": "fresh"})).json()
    assert rotated == {"token": "fresh"}
    assert (await client.get(f"/v23.0/{WABA_ID}", headers={"Authorization": "Bearer fresh"})).status_code == 200


# ------------------------------------------------------------------ creating accounts
async def test_a_new_account_has_its_own_numbers_templates_and_limit(client: httpx.AsyncClient) -> None:
    created = await add_account(client, numbers=20, messaging_limit=100000)
    assert created["access_token"] == B_TOKEN
    assert (created["waba_id"], created["name"], created["kind"]) == (B_WABA, "Portfolio B", "platform")
    assert (created["messaging_limit"], created["messaging_limit_tier"]) == (100000, "TIER_100K")
    ids = [n["id"] for n in created["phone_numbers"]]
    assert len(ids) == len(set(ids)) == 20
    assert not set(ids) & {f"2000000000000{i:02d}" for i in range(1, 11)}
    assert all((n["status"], n["quality_rating"], n["registered"]) == ("CONNECTED", "GREEN", True)
               for n in created["phone_numbers"])  # fmt: skip

    listed = (await client.get(f"/v23.0/{B_WABA}/phone_numbers?limit=50", headers=B_AUTH)).json()["data"]
    assert [n["id"] for n in listed] == ids
    assert len({n["display_phone_number"] for n in listed}) == 20
    seed_listed = (await client.get(f"/v23.0/{WABA_ID}/phone_numbers?limit=50", headers=AUTH)).json()["data"]
    assert len(seed_listed) == 10

    read = await client.get(f"/v23.0/{ids[0]}?fields=whatsapp_business_manager_messaging_limit", headers=B_AUTH)
    assert read.json()["whatsapp_business_manager_messaging_limit"] == "TIER_100K"
    waba = (await client.get(f"/v23.0/{B_WABA}", headers=B_AUTH)).json()
    assert (waba["id"], waba["name"]) == (B_WABA, "Portfolio B")

    templates = (await client.get(f"/v23.0/{B_WABA}/message_templates?limit=50", headers=B_AUTH)).json()["data"]
    seed_templates = (await client.get(f"/v23.0/{WABA_ID}/message_templates?limit=50", headers=AUTH)).json()["data"]
    assert sorted((t["name"], t["language"]) for t in templates) == sorted(
        (t["name"], t["language"]) for t in seed_templates
    )
    assert {t["status"] for t in templates} == {"APPROVED"}
    assert not {t["id"] for t in templates} & {t["id"] for t in seed_templates}

    sent = await client.post(f"/v23.0/{ids[4]}/messages", json=template_body(), headers=B_AUTH)
    assert sent.status_code == 200, sent.text
    accounts = {a["waba_id"]: a for a in (await client.get("/_sandbox/accounts")).json()}
    assert accounts[B_WABA]["unique_recipients_24h"] == 1 and accounts[WABA_ID]["unique_recipients_24h"] == 0
    assert (await client.get(f"/_sandbox/accounts/{B_WABA}")).json()["templates"] == len(templates)


async def test_a_generated_id_token_and_unlimited_portfolio(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sandbox/accounts", json={"numbers": 0, "messaging_limit": None})
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["waba_id"].isdigit() and created["waba_id"] != WABA_ID
    assert created["messaging_limit"] is None and created["messaging_limit_tier"] == "TIER_UNLIMITED"
    assert created["phone_numbers"] == []
    token = created["access_token"]
    listed = await client.get(
        f"/v23.0/{created['waba_id']}/phone_numbers", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200 and listed.json()["data"] == []


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"numbers": 21}, 422, "Meta caps a verified business portfolio at 20 registered numbers"),
        ({"numbers": -1}, 422, "numbers must be 0 to 20"),
        ({"waba_id": "12ab"}, 422, "waba_id must be digits"),
        ({"waba_id": WABA_ID}, 409, "is taken"),
        ({"waba_id": PNID}, 409, "is taken"),
        ({"messaging_limit": 1234}, 422, "messaging_limit must be one of"),
        ({"quality_rating": "BLUE"}, 422, "quality_rating"),
        ({"access_token": "  "}, 422, "access_token must not be blank"),
    ],
)
async def test_refusals_say_what_to_fix(
    client: httpx.AsyncClient, change: dict[str, Any], status: int, words: str
) -> None:
    body = {"waba_id": B_WABA, "numbers": 1, **change}
    response = await client.post("/_sandbox/accounts", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert len((await client.get("/_sandbox/accounts")).json()) == 1


async def test_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sandbox/accounts/999")).status_code == 404
    for path in ("/_sandbox/token", "/_sandbox/token/expire", "/_sandbox/token/revoke"):
        response = await client.post(path, json={"waba_id": "999"})
        assert response.status_code == 404 and "unknown waba_id 999" in response.json()["detail"]


# ------------------------------------------------------------------ tokens per account
async def test_a_token_acts_only_on_its_own_accounts_objects(client: httpx.AsyncClient) -> None:
    created = await add_account(client)
    b_number = created["phone_numbers"][0]["id"]
    b_template = (await client.get(f"/v23.0/{B_WABA}/message_templates", headers=B_AUTH)).json()["data"][0]["id"]
    seed_template = (await client.get(f"/v23.0/{WABA_ID}/message_templates", headers=AUTH)).json()["data"][0]["id"]
    for headers, foreign in ((AUTH, [B_WABA, b_number, b_template]), (B_AUTH, [WABA_ID, PNID, seed_template])):
        waba, number, template = foreign
        assert_no_access(await client.get(f"/v23.0/{waba}", headers=headers), waba)
        assert_no_access(await client.get(f"/v23.0/{waba}/phone_numbers", headers=headers), waba)
        assert_no_access(await client.get(f"/v23.0/{waba}/message_templates", headers=headers), waba)
        assert_no_access(await client.delete(f"/v23.0/{waba}/message_templates?name=x", headers=headers), waba)
        assert_no_access(await client.get(f"/v23.0/{number}", headers=headers), number)
        assert_no_access(await client.get(f"/v23.0/{template}", headers=headers), template)
        assert_no_access(await client.post(f"/v23.0/{number}/messages", json=template_body(), headers=headers), number)
        upload = await client.post(
            f"/v23.0/{number}/media",
            data={"messaging_product": "whatsapp", "type": "application/pdf"},
            files={"file": ("po.pdf", b"%PDF-1.4 x", "application/pdf")},
            headers=headers,
        )
        assert_no_access(upload, number)
    assert (await client.get("/_sandbox/messages")).json() == []
    own = await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=B_AUTH)
    assert own.status_code == 200, own.text


async def test_expiring_or_revoking_one_accounts_token_holds_only_that_account(client: httpx.AsyncClient) -> None:
    created = await add_account(client)
    b_number = created["phone_numbers"][0]["id"]
    assert (await client.post("/_sandbox/token/expire", json={"waba_id": B_WABA})).json() == {"expired": True}
    assert_graph_error(await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=B_AUTH),
                       401, 190, 463)  # fmt: skip
    assert (await client.post(f"/v23.0/{PNID}/messages", json=template_body(), headers=AUTH)).status_code == 200
    b_state = (await client.get(f"/_sandbox/accounts/{B_WABA}")).json()["token"]
    assert b_state == {"valid": False, "expired_count": 1, "revoked_count": 0}

    rotated = (await client.post("/_sandbox/token", json={"waba_id": B_WABA})).json()["token"]
    new_auth = {"Authorization": f"Bearer {rotated}"}
    assert (await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=new_auth)).status_code == 200
    assert (await client.post("/_sandbox/token/revoke", json={"waba_id": B_WABA})).json() == {"revoked": True}
    assert_graph_error(await client.get(f"/v23.0/{B_WABA}", headers=new_auth), 401, 190, 460)
    assert (await client.get(f"/v23.0/{WABA_ID}", headers=AUTH)).status_code == 200
    # an unknown token stays "cannot parse"
    assert_graph_error(await client.get(f"/v23.0/{B_WABA}", headers={"Authorization": "Bearer nope"}), 401, 190)


async def test_revoke_without_waba_id_revokes_the_first_accounts_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sandbox/token/revoke")).json() == {"revoked": True}
    assert_graph_error(await client.get(f"/v23.0/{WABA_ID}", headers=AUTH), 401, 190, 460)


# ------------------------------------------------------------------ templates per account
async def test_templates_created_on_a_waba_belong_to_it(client: httpx.AsyncClient) -> None:
    await add_account(client)
    body = {
        "name": "stock_alert",
        "language": "es",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Quedan {{1}} unidades.", "example": {"body_text": [["3"]]}}],
    }
    created = await client.post(f"/v23.0/{B_WABA}/message_templates", json=body, headers=B_AUTH)
    assert created.status_code == 200, created.text
    assert (await client.get(f"/v23.0/{created.json()['id']}", headers=B_AUTH)).status_code == 200
    seed_list = (await client.get(f"/v23.0/{WABA_ID}/message_templates?name=stock_alert", headers=AUTH)).json()
    assert seed_list["data"] == []
    # the same name and language in another WABA is no duplicate
    again = await client.post(f"/v23.0/{WABA_ID}/message_templates", json=body, headers=AUTH)
    assert again.status_code == 200, again.text
    duplicate = await client.post(f"/v23.0/{B_WABA}/message_templates", json=body, headers=B_AUTH)
    assert_graph_error(duplicate, 400, 100, 2388024)

    # the control API's name-based changes act on the first account unless told otherwise
    paused = await client.post("/_sandbox/templates/status", json={"name": "po_notification", "status": "PAUSED"})
    assert paused.status_code == 200
    b_number = (await client.get(f"/_sandbox/accounts/{B_WABA}")).json()["phone_numbers"][0]["id"]
    assert (await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=B_AUTH)).status_code == 200
    assert_graph_error(await client.post(f"/v23.0/{PNID}/messages", json=template_body(), headers=AUTH), 400, 132015)
    paused_b = await client.post(
        "/_sandbox/templates/status", json={"name": "po_notification", "status": "PAUSED", "waba_id": B_WABA}
    )
    assert paused_b.status_code == 200
    assert_graph_error(await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=B_AUTH),
                       400, 132015)  # fmt: skip
    upserted = await client.post(
        "/_sandbox/templates",
        json={
            "waba_id": B_WABA,
            "name": "order_ready",
            "language": "es",
            "components": [{"type": "BODY", "text": "Ok"}],
        },
    )
    assert upserted.status_code == 200
    names = [t["name"] for t in (await client.get(f"/v23.0/{B_WABA}/message_templates", headers=B_AUTH)).json()["data"]]
    assert "order_ready" in names


# ------------------------------------------------------------------ webhooks name the WABA
def _entry_ids(receiver: Receiver) -> list[str]:
    return [str(item.json["entry"][0]["id"]) for item in receiver.received]


async def test_webhooks_carry_the_waba_of_the_number_or_template(hooked: Hooked) -> None:
    client, receiver = hooked
    created = await add_account(client)
    b_number = created["phone_numbers"][0]["id"]

    sent = await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=B_AUTH)
    wamid = sent.json()["messages"][0]["id"]

    async def three_statuses() -> bool:
        return len(receiver.statuses(wamid)) >= 3

    await wait_until(three_statuses)
    assert set(_entry_ids(receiver)) == {B_WABA}
    status_value = receiver.received[0].json["entry"][0]["changes"][0]["value"]
    assert status_value["metadata"]["phone_number_id"] == b_number

    receiver.received.clear()
    await client.post(f"/v23.0/{PNID}/messages", json=template_body(), headers=AUTH)
    await client.post("/_sandbox/inbound", json={"phone_number_id": b_number, "from": CUSTOMER, "text": "Hola"})
    await client.post("/_sandbox/inbound", json={"phone_number_id": PNID, "from": CUSTOMER, "text": "Hola"})
    await client.post(
        "/_sandbox/templates/status",
        json={"name": "inventory_alert", "language": "es", "status": "PAUSED", "waba_id": B_WABA},
    )
    await client.post(f"/_sandbox/phone_numbers/{b_number}", json={"quality_rating": "YELLOW"})

    async def all_in() -> bool:
        return len(receiver.received) >= 3 + 2 + 2

    await wait_until(all_in)
    by_field: dict[str, set[str]] = {}
    inbound_user_ids: dict[str, str] = {}
    for item in receiver.received:
        entry = item.json["entry"][0]
        change = entry["changes"][0]
        by_field.setdefault(change["field"], set()).add(str(entry["id"]))
        for message in change["value"].get("messages", []):
            inbound_user_ids[change["value"]["metadata"]["phone_number_id"]] = message["from_user_id"]
    assert by_field["message_template_status_update"] == {B_WABA}
    assert by_field["phone_number_quality_update"] == {B_WABA}
    assert by_field["messages"] == {WABA_ID, B_WABA}
    # business-scoped user IDs are per WABA: the same customer has another one in account B
    assert inbound_user_ids[b_number] != inbound_user_ids[PNID]


async def test_a_bsuid_of_one_waba_does_not_address_a_user_from_another(hooked: Hooked) -> None:
    client, receiver = hooked
    created = await add_account(client)
    b_number = created["phone_numbers"][0]["id"]
    await client.post("/_sandbox/inbound", json={"phone_number_id": PNID, "from": CUSTOMER, "text": "Hola"})

    async def one() -> bool:
        return len(receiver.received) >= 1

    await wait_until(one)
    seed_user_id = receiver.received[0].json["entry"][0]["changes"][0]["value"]["messages"][0]["from_user_id"]
    body = template_body()
    body.pop("to")
    body["recipient"] = seed_user_id
    assert (await client.post(f"/v23.0/{PNID}/messages", json=body, headers=AUTH)).status_code == 200
    assert_graph_error(await client.post(f"/v23.0/{b_number}/messages", json=body, headers=B_AUTH), 400, 131009)


async def test_the_portfolio_limit_is_per_account(client: httpx.AsyncClient) -> None:
    created = await add_account(client)
    b_number = created["phone_numbers"][1]["id"]
    response = await client.post("/_sandbox/portfolio", json={"waba_id": B_WABA, "messaging_limit": "TIER_100K"})
    assert response.status_code == 200 and response.json()["messaging_limit"] == "TIER_100K"
    accounts = {a["waba_id"]: a for a in (await client.get("/_sandbox/accounts")).json()}
    assert accounts[B_WABA]["messaging_limit"] == 100000 and accounts[WABA_ID]["messaging_limit"] == 2000
    fields = "?fields=whatsapp_business_manager_messaging_limit"
    assert (await client.get(f"/v23.0/{PNID}{fields}", headers=AUTH)).json()[
        "whatsapp_business_manager_messaging_limit"
    ] == "TIER_2K"
    # a number's tier change moves its own portfolio only
    await client.post(f"/_sandbox/phone_numbers/{b_number}", json={"messaging_limit_tier": "TIER_1K"})
    accounts = {a["waba_id"]: a for a in (await client.get("/_sandbox/accounts")).json()}
    assert accounts[B_WABA]["messaging_limit"] == 1000 and accounts[WABA_ID]["messaging_limit"] == 2000
    # without a waba_id the first account's, as before
    first = await client.post("/_sandbox/portfolio", json={"messaging_limit": "TIER_10K"})
    assert first.json()["messaging_limit"] == "TIER_10K"
    mismatch = await client.post(
        "/_sandbox/portfolio", json={"waba_id": B_WABA, "phone_number_id": PNID, "messaging_limit": "TIER_10K"}
    )
    assert mismatch.status_code == 404


async def test_reset_drops_added_accounts(client: httpx.AsyncClient) -> None:
    await add_account(client)
    await client.post("/_sandbox/reset")
    assert [a["waba_id"] for a in (await client.get("/_sandbox/accounts")).json()] == [WABA_ID]
    assert_graph_error(await client.get(f"/v23.0/{B_WABA}", headers=B_AUTH), 401, 190)


async def test_numbers_can_be_added_up_to_twenty_per_account(client: httpx.AsyncClient) -> None:
    added = await client.post(f"/_sandbox/accounts/{WABA_ID}/phone_numbers", json={"numbers": 10})
    assert added.status_code == 200, added.text
    assert len(added.json()["added"]) == 10 and len(added.json()["phone_numbers"]) == 20
    listed = (await client.get(f"/v23.0/{WABA_ID}/phone_numbers?limit=50", headers=AUTH)).json()["data"]
    assert len(listed) == 20 and len({n["id"] for n in listed}) == 20
    new_number = added.json()["added"][0]
    assert (await client.post(f"/v23.0/{new_number}/messages", json=template_body(), headers=AUTH)).status_code == 200
    full = await client.post(f"/_sandbox/accounts/{WABA_ID}/phone_numbers", json={"numbers": 1})
    assert full.status_code == 422 and "the account has 20" in full.json()["detail"]
    assert (await client.post("/_sandbox/accounts/999/phone_numbers", json={"numbers": 1})).status_code == 404
    # a tenant-owned account's new numbers start unregistered
    signup = (await client.post("/_sandbox/embedded-signup", json={"numbers": 1})).json()
    more = (await client.post(f"/_sandbox/accounts/{signup['waba_id']}/phone_numbers", json={"numbers": 2})).json()
    assert [n["registered"] for n in more["phone_numbers"]] == [False, False, False]


async def test_messages_and_webhooks_filter_by_account(hooked: Hooked) -> None:
    client, receiver = hooked
    created = await add_account(client)
    b_number = created["phone_numbers"][0]["id"]
    await client.post(f"/v23.0/{b_number}/messages", json=template_body(), headers=B_AUTH)
    await client.post(f"/v23.0/{PNID}/messages", json=template_body(), headers=AUTH)
    b_sends = (await client.get("/_sandbox/messages", params={"waba_id": B_WABA})).json()
    assert [m["phone_number_id"] for m in b_sends] == [b_number]

    async def six() -> bool:
        return len(receiver.received) >= 6

    await wait_until(six)
    b_hooks = (await client.get("/_sandbox/webhooks", params={"waba_id": B_WABA})).json()
    assert len(b_hooks) == 3 and {d["phone_number_id"] for d in b_hooks} == {b_number}


async def test_a_tenant_owned_account_can_be_added_ready_to_send(client: httpx.AsyncClient) -> None:
    created = await add_account(client, kind="tenant_owned", numbers=1)
    assert created["kind"] == "tenant_owned" and created["phone_numbers"][0]["registered"] is True
    sent = await client.post(
        f"/v23.0/{created['phone_numbers'][0]['id']}/messages", json=template_body(), headers=B_AUTH
    )
    assert sent.status_code == 200, sent.text
    bad = await client.post("/_sandbox/accounts", json={"kind": "shared"})
    assert bad.status_code == 422 and "kind must be one of" in bad.json()["detail"]


async def test_the_account_controls_need_the_control_token_when_one_is_set() -> None:
    from wa_sandbox.app import create_app

    from .conftest import make_settings

    control_token = "a-sandbox-control-token-0123456789"
    app = create_app(make_settings(sandbox_host="0.0.0.0", sandbox_control_token=control_token))  # noqa: S104
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
            for method, path in [
                ("GET", "/_sandbox/accounts"),
                ("POST", "/_sandbox/accounts"),
                ("GET", f"/_sandbox/accounts/{WABA_ID}"),
                ("POST", f"/_sandbox/accounts/{WABA_ID}/phone_numbers"),
                ("POST", "/_sandbox/embedded-signup"),
                ("POST", "/_sandbox/token/revoke"),
            ]:
                for headers in ({}, AUTH):
                    response = await client.request(method, path, json={}, headers=headers)
                    assert response.status_code == 401, (method, path)
            allowed = await client.get("/_sandbox/accounts", headers={"Authorization": f"Bearer {control_token}"})
            assert allowed.status_code == 200 and len(allowed.json()) == 1
    finally:
        await app.state.dispatcher.aclose()
