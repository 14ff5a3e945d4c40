"""POST /{version}/{phone_number_id}/messages: success shape and every synchronous error path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import AUTH, CUSTOMER, CUSTOMER_WA_ID, PNID, PNID2, template_body

URL = f"/v23.0/{PNID}/messages"


def assert_graph_error(response: httpx.Response, http: int, code: int, subcode: int | None = None) -> dict[str, Any]:
    assert response.status_code == http, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert isinstance(error["fbtrace_id"], str) and len(error["fbtrace_id"]) > 10
    if subcode is not None:
        assert error["error_subcode"] == subcode
    return error


async def test_success_body_and_record(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=template_body(callback_data="notif=1"), headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": CUSTOMER, "wa_id": CUSTOMER_WA_ID}]
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    second = await client.post(URL, json=template_body(), headers=AUTH)
    assert second.json()["messages"][0]["id"] != wamid

    records = (await client.get("/_sandbox/messages")).json()
    assert [r["wamid"] for r in records][0] == wamid  # newest last
    first = records[0]
    assert first["phone_number_id"] == PNID
    assert first["to"] == CUSTOMER
    assert first["wa_id"] == CUSTOMER_WA_ID
    assert first["request"]["template"]["name"] == "po_notification"
    assert first["biz_opaque_callback_data"] == "notif=1"
    assert (
        first["rendered_body"]
        == "Hola Ana, has recibido una nueva orden de compra OC-2026-0001 por un total de 12,50 €."
    )
    assert first["time"]

    assert (await client.delete("/_sandbox/messages")).json() == {"deleted": 2}
    assert (await client.get("/_sandbox/messages")).json() == []


@pytest.mark.parametrize("version", ["v21.0", "v22.0", "v23.0", "v24.0", "v25.0", "v26.0"])
async def test_supported_versions(client: httpx.AsyncClient, version: str) -> None:
    """On 2026-12-03 (the fixtures' day) the sandbox serves every version of the product's table still alive."""
    response = await client.post(f"/{version}/{PNID}/messages", json=template_body(), headers=AUTH)
    assert response.status_code == 200


async def test_old_and_malformed_versions(client: httpx.AsyncClient) -> None:
    old = await client.post(f"/v17.0/{PNID}/messages", json=template_body(), headers=AUTH)
    assert assert_graph_error(old, 400, 2635)["message"].startswith("(#2635)")
    ended = await client.post(f"/v20.0/{PNID}/messages", json=template_body(), headers=AUTH)  # ended 2026-09-24
    assert "v20.0" in assert_graph_error(ended, 400, 2635)["message"]
    unknown = await client.post(f"/v99.0/{PNID}/messages", json=template_body(), headers=AUTH)
    assert_graph_error(unknown, 400, 2500)
    bad = await client.post(f"/23.0/{PNID}/messages", json=template_body(), headers=AUTH)
    assert "Unknown path components" in assert_graph_error(bad, 400, 2500)["message"]
    bad2 = await client.get("/vABC/100000000000001/phone_numbers", headers=AUTH)
    assert_graph_error(bad2, 400, 2500)


async def test_clock_moves_a_version_past_its_end(client: httpx.AsyncClient) -> None:
    """The day is injectable: v21.0 ends on 2027-01-21 (Meta's changelog). The day before it is served (and the
    clock view says it is ending), on the day it is refused with Meta's deprecated-version error."""
    clock = (await client.post("/_sandbox/clock", json={"today": "2027-01-20"})).json()
    assert clock["today"] == "2027-01-20" and clock["overridden"] is True
    assert clock["versions"]["v21.0"]["state"] == "ending" and clock["versions"]["v21.0"]["days_left"] == 1
    assert clock["versions"]["v25.0"]["state"] == "current"
    assert (await client.post(f"/v21.0/{PNID}/messages", json=template_body(), headers=AUTH)).status_code == 200
    await client.post("/_sandbox/clock", json={"today": "2027-01-21"})
    refused = await client.post(f"/v21.0/{PNID}/messages", json=template_body(), headers=AUTH)
    error = assert_graph_error(refused, 400, 2635)
    assert error["message"].endswith("Please update to the latest version: v26.0.")
    read = await client.get(f"/v21.0/{PNID}", headers=AUTH)
    assert_graph_error(read, 400, 2635)
    assert (await client.post(f"/v25.0/{PNID}/messages", json=template_body(), headers=AUTH)).status_code == 200
    real = (await client.post("/_sandbox/clock", json={"today": None})).json()
    assert real["overridden"] is False


async def test_missing_wrong_token(client: httpx.AsyncClient) -> None:
    missing = await client.post(URL, json=template_body())
    assert "error_data" not in assert_graph_error(missing, 401, 190)
    wrong = await client.post(URL, json=template_body(), headers={"Authorization": "Bearer nope"})
    assert assert_graph_error(wrong, 401, 190)["message"] == "Invalid OAuth access token - Cannot parse access token"
    query = await client.post(URL + "?access_token=sandbox-access-token", json=template_body())
    assert query.status_code == 200


async def test_expired_and_rotated_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sandbox/token/expire")).json() == {"expired": True}
    expired = await client.post(URL, json=template_body(), headers=AUTH)
    error = assert_graph_error(expired, 401, 190, subcode=463)
    assert error["message"].startswith("Error validating access token: Session has expired on")

    rotated = await client.post("/_sandbox/token", json={"token": "new-token"})
    assert rotated.json() == {"token": "new-token"}
    ok = await client.post(URL, json=template_body(), headers={"Authorization": "Bearer new-token"})
    assert ok.status_code == 200
    still_expired = await client.post(URL, json=template_body(), headers=AUTH)
    assert_graph_error(still_expired, 401, 190, subcode=463)

    generated = (await client.post("/_sandbox/token", json={})).json()["token"]
    revoked = await client.post(URL, json=template_body(), headers={"Authorization": "Bearer new-token"})
    assert_graph_error(revoked, 401, 190, subcode=460)
    fresh = await client.post(URL, json=template_body(), headers={"Authorization": f"Bearer {generated}"})
    assert fresh.status_code == 200


async def test_unknown_phone_number_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/v23.0/999999999/messages", json=template_body(), headers=AUTH)
    error = assert_graph_error(response, 400, 100, subcode=33)
    assert error["type"] == "GraphMethodException"
    assert error["message"].startswith("Unsupported post request. Object with ID '999999999' does not exist")


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [("DELETED", 33, 400), ("DISCONNECTED", 133010, 400), ("BANNED", 131031, 403), ("PENDING", 133010, 400)],
)
async def test_number_not_connected(client: httpx.AsyncClient, status: str, code: int, http: int) -> None:
    assert (await client.post(f"/_sandbox/phone_numbers/{PNID2}", json={"status": status})).status_code == 200
    response = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)
    assert_graph_error(response, http, code)
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200  # others unaffected
    read = await client.get(f"/v23.0/{PNID2}?fields=status", headers=AUTH)
    assert read.json() == {"status": status, "id": PNID2}


async def test_template_not_in_language(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=template_body(language="fr"), headers=AUTH)
    error = assert_graph_error(response, 404, 132001)
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert "does not exist in fr" in error["error_data"]["details"]
    unknown = await client.post(URL, json=template_body(name="no_such_template"), headers=AUTH)
    assert_graph_error(unknown, 404, 132001)
    english = await client.post(URL, json=template_body(language="en"), headers=AUTH)
    assert english.status_code == 200
    records = (await client.get("/_sandbox/messages")).json()
    assert records[-1]["rendered_body"].startswith("Hello Ana, you have received a new purchase order OC-2026-0001")


@pytest.mark.parametrize(("status", "code"), [("PAUSED", 132015), ("DISABLED", 132016), ("PENDING", 132001)])
async def test_template_status_blocks_send(client: httpx.AsyncClient, status: str, code: int) -> None:
    changed = await client.post(
        "/_sandbox/templates/status", json={"name": "po_notification", "language": "es", "status": status}
    )
    assert changed.status_code == 200
    response = await client.post(URL, json=template_body(), headers=AUTH)
    assert_graph_error(response, 404 if code == 132001 else 400, code)
    assert (await client.post(URL, json=template_body(language="en"), headers=AUTH)).status_code == 200


@pytest.mark.parametrize(("count", "expected"), [(2, 3), (4, 3), (0, 3)])
async def test_parameter_count_mismatch(client: httpx.AsyncClient, count: int, expected: int) -> None:
    body = template_body(params=[f"p{i}" for i in range(count)])
    if count == 0:
        body["template"].pop("components")
    response = await client.post(URL, json=body, headers=AUTH)
    error = assert_graph_error(response, 400, 132000)
    assert error["message"] == "(#132000) Number of parameters does not match the expected number of params"
    assert error["error_data"]["details"] == (
        f"body: number of localizable_params ({count}) does not match the expected number of params ({expected})"
    )


async def test_header_params_for_template_without_header(client: httpx.AsyncClient) -> None:
    body = template_body()
    body["template"]["components"].insert(0, {"type": "header", "parameters": [{"type": "text", "text": "x"}]})
    response = await client.post(URL, json=body, headers=AUTH)
    error = assert_graph_error(response, 400, 132000)
    assert error["error_data"]["details"].startswith("header: number of localizable_params (1)")


@pytest.mark.parametrize("empty", ["", "   ", None])
async def test_empty_text_parameter(client: httpx.AsyncClient, empty: str | None) -> None:
    body = template_body()
    body["template"]["components"][0]["parameters"][1]["text"] = empty
    response = await client.post(URL, json=body, headers=AUTH)
    error = assert_graph_error(response, 400, 100)
    assert error["message"] == "(#100) Invalid parameter"
    assert error["error_data"]["details"] == "Parameter 'text' is mandatory for component parameter type 'text'"


async def test_currency_and_date_parameters(client: httpx.AsyncClient) -> None:
    body = template_body()
    params = body["template"]["components"][0]["parameters"]
    params[1] = {"type": "date_time", "date_time": {"fallback_value": "viernes 8:00"}}
    params[2] = {"type": "currency", "currency": {"fallback_value": "12,50 €", "code": "EUR", "amount_1000": 12500}}
    assert (await client.post(URL, json=body, headers=AUTH)).status_code == 200
    params[2] = {"type": "currency", "currency": {"fallback_value": "12,50 €", "code": "EUR"}}
    assert_graph_error(await client.post(URL, json=body, headers=AUTH), 400, 100)
    params[2] = {"type": "sticker"}
    assert_graph_error(await client.post(URL, json=body, headers=AUTH), 400, 100)


@pytest.mark.parametrize(
    ("to", "code"),
    [("abc", 131009), ("+34 12", 131009), ("+1234567890123456789", 131009), ("", 100), (None, 100), (12345, 100)],
)
async def test_bad_recipient(client: httpx.AsyncClient, to: Any, code: int) -> None:
    body = template_body()
    body["to"] = to
    response = await client.post(URL, json=body, headers=AUTH)
    assert_graph_error(response, 400, code)


async def test_recipient_formats(client: httpx.AsyncClient) -> None:
    for to in ["+34 (600) 111-222", "34600111222", "600111222", "+34600111222"]:
        response = await client.post(URL, json=template_body(to=to), headers=AUTH)
        assert response.status_code == 200, to
        assert response.json()["contacts"][0] == {"input": to, "wa_id": CUSTOMER_WA_ID}


async def test_recipient_is_sender(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=template_body(to="+34 612 345 678"), headers=AUTH)
    assert_graph_error(response, 400, 131021)


async def test_envelope_errors(client: httpx.AsyncClient) -> None:
    body = template_body()
    body.pop("messaging_product")
    assert_graph_error(await client.post(URL, json=body, headers=AUTH), 400, 100)
    body["messaging_product"] = "sms"
    assert_graph_error(await client.post(URL, json=body, headers=AUTH), 400, 100)
    bad_json = await client.post(URL, content=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
    assert_graph_error(bad_json, 400, 100)
    video = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "video", "video": {"link": "https://x"}}
    assert_graph_error(await client.post(URL, json=video, headers=AUTH), 400, 131051)
    no_template = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "template"}
    assert_graph_error(await client.post(URL, json=no_template, headers=AUTH), 400, 100)
    too_long = template_body(callback_data="x" * 513)
    assert_graph_error(await client.post(URL, json=too_long, headers=AUTH), 400, 100)


async def test_throughput_limit(client: httpx.AsyncClient) -> None:
    # the buckets' clock stands still: on a busy machine five sends could take more than the third of a second
    # that refills a token at 3/s (the test then saw five 200s)
    client.app.state.sandbox.throughput._clock = lambda: 1_000.0  # type: ignore[attr-defined]
    await client.post("/_sandbox/limits", json={"throughput_per_second": 3})
    codes = []
    for i in range(5):
        response = await client.post(URL, json=template_body(to=f"+3460011122{i}"), headers=AUTH)
        codes.append(response.status_code)
        if response.status_code != 200:
            error = assert_graph_error(response, 400, 130429, subcode=2494055)
            assert error["message"] == "(#130429) Rate limit hit"
            assert error["error_data"]["details"] == "Cloud API message throughput has been reached."
    assert codes == [200, 200, 200, 400, 400]
    other = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)
    assert other.status_code == 200  # the bucket is per number


async def test_per_number_throughput_and_429_switch(client: httpx.AsyncClient) -> None:
    await client.post(f"/_sandbox/phone_numbers/{PNID2}", json={"throughput_per_second": 1})
    await client.post("/_sandbox/limits", json={"throttle_http_status": 429})
    assert (await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)).status_code == 200
    second = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(to="+34600999888"), headers=AUTH)
    assert_graph_error(second, 429, 130429)
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200


async def test_pair_limit(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/limits", json={"pair_limit": 2, "pair_refill_seconds": 60})
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    assert (await client.post(URL, json=template_body(), headers=AUTH)).status_code == 200
    third = await client.post(URL, json=template_body(), headers=AUTH)
    error = assert_graph_error(third, 400, 131056)
    assert error["message"] == "(#131056) (Business Account, Consumer Account) pair rate limit hit"
    other_recipient = await client.post(URL, json=template_body(to="+34600999888"), headers=AUTH)
    assert other_recipient.status_code == 200
    other_sender = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)
    assert other_sender.status_code == 200


async def test_named_template(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_sandbox/templates",
        json={
            "name": "order_ready_named",
            "language": "es",
            "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Hola {{customer_name}}, pedido {{order_id}} listo."}],
        },
    )
    assert created.status_code == 200
    body = template_body(name="order_ready_named", params=["Ana", "7"])
    params = body["template"]["components"][0]["parameters"]
    params[0]["parameter_name"] = "customer_name"
    params[1]["parameter_name"] = "order_id"
    assert (await client.post(URL, json=body, headers=AUTH)).status_code == 200
    assert (await client.get("/_sandbox/messages")).json()[-1]["rendered_body"] == "Hola Ana, pedido 7 listo."
    params[1]["parameter_name"] = "order_number"
    assert_graph_error(await client.post(URL, json=body, headers=AUTH), 400, 132000)


@pytest.mark.parametrize("text", ["Harinas\ndel Sur", "Harinas\tdel Sur", "Harinas     del Sur", "a\r\nb"])
async def test_line_breaks_tabs_and_five_spaces_in_a_parameter_are_132018(client: httpx.AsyncClient, text: str) -> None:
    """As Meta (v23.0+): a text parameter with a line break, a tab or more than 4 consecutive spaces is refused
    with 132018 (HTTP 400, permanent); nothing is sent."""
    response = await client.post(URL, json=template_body(params=[text, "OC-1", "12,50 €"]), headers=AUTH)
    error = assert_graph_error(response, 400, 132018)
    assert error["message"] == "(#132018) There was an issue with the parameters in your template"
    assert error["error_data"]["details"] == (
        "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
    )
    assert (await client.get("/_sandbox/messages")).json() == []
    four = await client.post(URL, json=template_body(params=["Harinas    del Sur", "OC-1", "1 €"]), headers=AUTH)
    assert four.status_code == 200, four.text


# ------------------------------------------------------------------ business-scoped user IDs (Meta, 2026)
async def _user_id(client: httpx.AsyncClient, phone: str = CUSTOMER) -> str:
    user = (await client.post("/_sandbox/users", json={"phone": phone})).json()
    user_id: str = user["user_id"]
    return user_id


async def test_send_by_recipient_user_id(client: httpx.AsyncClient) -> None:
    user_id = await _user_id(client)
    assert user_id.startswith("ES.") and user_id[3:].isdigit()
    body = template_body()
    del body["to"]
    body["recipient"] = user_id
    response = await client.post(URL, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["contacts"] == [{"input": user_id, "user_id": user_id}]  # no wa_id for a BSUID send
    record = (await client.get("/_sandbox/messages")).json()[-1]
    assert record["to"] is None and record["recipient_user_id"] == user_id and record["wa_id"] == CUSTOMER_WA_ID


async def test_to_wins_over_recipient(client: httpx.AsyncClient) -> None:
    user_id = await _user_id(client, "+34600999888")
    body = {**template_body(), "recipient": user_id}
    response = await client.post(URL, json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["contacts"] == [{"input": CUSTOMER, "wa_id": CUSTOMER_WA_ID}]
    record = (await client.get("/_sandbox/messages")).json()[-1]
    assert record["wa_id"] == CUSTOMER_WA_ID and record["recipient_user_id"] is None


async def test_recipient_errors(client: httpx.AsyncClient) -> None:
    body = template_body()
    del body["to"]
    unknown = await client.post(URL, json={**body, "recipient": "ES.123"}, headers=AUTH)
    assert_graph_error(unknown, 400, 131009)
    empty = await client.post(URL, json={**body, "recipient": ""}, headers=AUTH)
    assert_graph_error(empty, 400, 100)
    neither = await client.post(URL, json=body, headers=AUTH)
    assert_graph_error(neither, 400, 100)


async def test_authentication_template_to_user_id_is_131062(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_sandbox/templates",
        json={
            "name": "login_code",
            "language": "es",
            "category": "AUTHENTICATION",
            "components": [{"type": "BODY", "text": "Tu código es {{1}}."}],
        },
    )
    assert created.status_code == 200
    user_id = await _user_id(client)
    body = template_body(name="login_code", params=["123456"])
    by_phone = await client.post(URL, json=body, headers=AUTH)
    assert by_phone.status_code == 200  # a phone number is fine
    del body["to"]
    error = assert_graph_error(await client.post(URL, json={**body, "recipient": user_id}, headers=AUTH), 400, 131062)
    assert "not supported" in error["message"]
