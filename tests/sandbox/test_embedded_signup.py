"""Meta's Tech Provider onboarding after Embedded Signup, against the sandbox (issue 18): a new tenant-owned account
with a one-time code; the code exchanged (once) for the account's business token; the app subscribed to the WABA's
webhooks; the number registered with its PIN. Until then the number cannot send and the WABA gets no webhooks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wa_sandbox.settings import DEV_APP_ID

from .conftest import APP_SECRET, AUTH, CUSTOMER, WABA_ID, Receiver, make_settings, template_body, wait_until
from .test_send import assert_graph_error

Hooked = tuple[httpx.AsyncClient, Receiver]
EXCHANGE = "/v23.0/oauth/access_token"


async def sign_up(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/_sandbox/embedded-signup", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def exchange(client: httpx.AsyncClient, signup_code: str, **change: str) -> httpx.Response:
    params = {"client_id": DEV_APP_ID, "client_secret": APP_SECRET, "code": signup_code, **change}
    return await client.get(EXCHANGE, params=params)


def assert_oauth_error(response: httpx.Response, code: int, subcode: int | None, message: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error.get("error_subcode"), error["type"]) == (code, subcode, "OAuthException")
    assert error["message"] == message
    assert "error_data" not in error


async def test_signup_creates_a_tenant_owned_account_without_a_token(client: httpx.AsyncClient) -> None:
    result = await sign_up(client, name="Panadería Norte", numbers=2, messaging_limit=250)
    waba, numbers = result["waba_id"], result["phone_number_ids"]
    assert result["code"] and len(numbers) == 2
    assert result["session_info"] == {
        "type": "WA_EMBEDDED_SIGNUP",
        "event": "FINISH",
        "data": {
            "phone_number_id": numbers[0],
            "waba_id": waba,
            "business_id": result["session_info"]["data"]["business_id"],
        },
    }
    account = result["account"]
    assert (account["kind"], account["name"], account["messaging_limit"]) == ("tenant_owned", "Panadería Norte", 250)
    assert account["token"]["valid"] is False and account["subscribed_apps"] == []
    assert [n["registered"] for n in account["phone_numbers"]] == [False, False]
    # the platform's token does not reach the bakery's own account
    error = assert_graph_error(await client.get(f"/v23.0/{waba}/phone_numbers", headers=AUTH), 400, 100, 33)
    assert error["type"] == "GraphMethodException"


async def test_signup_refusals(client: httpx.AsyncClient) -> None:
    too_many = await client.post("/_sandbox/embedded-signup", json={"numbers": 21})
    assert too_many.status_code == 422 and "20 registered numbers" in too_many.json()["detail"]
    taken = await client.post("/_sandbox/embedded-signup", json={"waba_id": WABA_ID})
    assert taken.status_code == 409
    default = await sign_up(client)
    assert len(default["phone_number_ids"]) == 1 and default["account"]["messaging_limit"] == 2000


async def test_the_code_is_exchanged_once_for_a_token_of_that_account_only(client: httpx.AsyncClient) -> None:
    result = await sign_up(client)
    waba, number = result["waba_id"], result["phone_number_ids"][0]
    response = await exchange(client, result["code"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type"} and body["token_type"] == "bearer"
    token = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get(f"/v23.0/{waba}/phone_numbers", headers=token)).json()["data"][0]["id"] == number
    assert_graph_error(await client.get(f"/v23.0/{WABA_ID}", headers=token), 400, 100, 33)
    assert (await client.get(f"/_sandbox/accounts/{waba}")).json()["token"]["valid"] is True

    assert_oauth_error(await exchange(client, result["code"]), 100, 36009, "This authorization code has been used.")


@pytest.mark.parametrize(
    ("change", "code", "subcode", "message"),
    [
        ({"code": "AQnot-a-code"}, 100, 36007, "Invalid verification code format."),
        ({"code": ""}, 100, 36007, "Invalid verification code format."),
        ({"client_secret": "wrong"}, 1, None, "Error validating client secret."),
        ({"client_id": "123"}, 101, None, "Error validating application. Invalid application ID."),
        ({"client_id": ""}, 101, None, "Missing client_id parameter."),
    ],
)
async def test_exchange_refusals(
    client: httpx.AsyncClient, change: dict[str, str], code: int, subcode: int | None, message: str
) -> None:
    result = await sign_up(client)
    assert_oauth_error(await exchange(client, result["code"], **change), code, subcode, message)
    # a refused exchange does not use the code up
    assert (await exchange(client, result["code"])).status_code == 200


async def test_the_exchange_as_a_form_post_and_with_a_configured_app_id() -> None:
    from wa_sandbox.app import create_app

    app = create_app(make_settings(whatsapp_app_id="424242"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
            result = await sign_up(client)
            refused = await exchange(client, result["code"])  # the dev app id is not this sandbox's app
            assert refused.json()["error"]["code"] == 101
            form = {"client_id": "424242", "client_secret": APP_SECRET, "code": result["code"]}
            response = await client.post(EXCHANGE, data=form)
            assert response.status_code == 200, response.text
            assert response.json()["token_type"] == "bearer"
            # without a version in the path too
            other = await sign_up(client)
            unversioned = await client.get("/oauth/access_token", params={**form, "code": other["code"]})
            assert unversioned.status_code == 200, unversioned.text
    finally:
        await app.state.dispatcher.aclose()


async def test_register_subscribe_then_send_and_receive_webhooks(hooked: Hooked) -> None:
    client, receiver = hooked
    result = await sign_up(client)
    waba, number = result["waba_id"], result["phone_number_ids"][0]

    # the app hears of the onboarding itself (account_update, PARTNER_ADDED) before it subscribes to the WABA
    async def partner_added() -> bool:
        return len(receiver.received) >= 1

    await wait_until(partner_added)
    entry = receiver.received[0].json["entry"][0]
    assert entry["id"] == waba and entry["changes"][0]["field"] == "account_update"
    assert entry["changes"][0]["value"] == {
        "event": "PARTNER_ADDED",
        "waba_info": {"waba_id": waba, "owner_business_id": result["session_info"]["data"]["business_id"]},
    }
    assert result["webhook_id"] is not None
    receiver.received.clear()
    token = {"Authorization": f"Bearer {(await exchange(client, result['code'])).json()['access_token']}"}

    # not registered: Meta's 133010
    unregistered = await client.post(f"/v23.0/{number}/messages", json=template_body(), headers=token)
    error = assert_graph_error(unregistered, 400, 133010)
    assert "Account not registered" in error["error_data"]["details"]

    for body, code in [
        ({"messaging_product": "whatsapp", "pin": "12345"}, 100),
        ({"messaging_product": "whatsapp", "pin": "12345a"}, 100),
        ({"messaging_product": "whatsapp", "pin": 123456}, 100),
        ({"messaging_product": "whatsapp"}, 100),
        ({"pin": "123456"}, 100),
    ]:
        assert_graph_error(await client.post(f"/v23.0/{number}/register", json=body, headers=token), 400, code)
    register = {"messaging_product": "whatsapp", "pin": "246810"}
    assert_graph_error(await client.post(f"/v23.0/{number}/register", json=register, headers=AUTH), 400, 100, 33)
    registered = await client.post(f"/v23.0/{number}/register", json=register, headers=token)
    assert registered.status_code == 200 and registered.json() == {"success": True}
    again = await client.post(f"/v23.0/{number}/register", json={**register, "pin": "999999"}, headers=token)
    assert_graph_error(again, 400, 133005)
    assert (await client.post(f"/v23.0/{number}/register", json=register, headers=token)).status_code == 200

    # registered but no app subscribed: the send goes, its WABA gets no webhooks
    sent = await client.post(f"/v23.0/{number}/messages", json=template_body(), headers=token)
    assert sent.status_code == 200, sent.text
    await client.post("/_sandbox/inbound", json={"phone_number_id": number, "from": CUSTOMER, "text": "Hola"})
    first_wamid = sent.json()["messages"][0]["id"]

    async def first_statuses_emitted() -> bool:
        record = (await client.get("/_sandbox/messages", params={"wamid": first_wamid})).json()[0]
        return len(record["statuses"]) >= 3

    await wait_until(first_statuses_emitted)
    assert receiver.received == [] and (await client.get("/_sandbox/webhooks?field=messages")).json() == []
    listed = await client.get(f"/v23.0/{waba}/subscribed_apps", headers=token)
    assert listed.json() == {"data": []}

    assert_graph_error(await client.post(f"/v23.0/{waba}/subscribed_apps", headers=AUTH), 400, 100, 33)
    subscribed = await client.post(f"/v23.0/{waba}/subscribed_apps", headers=token)
    assert subscribed.status_code == 200 and subscribed.json() == {"success": True}
    apps = (await client.get(f"/v23.0/{waba}/subscribed_apps", headers=token)).json()["data"]
    assert [a["whatsapp_business_api_data"]["id"] for a in apps] == [DEV_APP_ID]

    second = await client.post(f"/v23.0/{number}/messages", json=template_body(), headers=token)
    wamid = second.json()["messages"][0]["id"]

    async def statuses() -> bool:
        return len(receiver.statuses(wamid)) >= 3

    await wait_until(statuses)
    assert {str(item.json["entry"][0]["id"]) for item in receiver.received} == {waba}

    # unsubscribing stops them again
    assert (await client.delete(f"/v23.0/{waba}/subscribed_apps", headers=token)).json() == {"success": True}
    before = len(receiver.received)
    await client.post("/_sandbox/inbound", json={"phone_number_id": number, "from": CUSTOMER, "text": "¿Sigue?"})
    assert len(receiver.received) == before
