"""The project's own Graph client (bakery_shared.graph) against the sandbox, in process."""

from __future__ import annotations

import httpx
import pytest

from bakery_shared.graph import AccessTokenProvider, GraphClient, GraphError
from wa_sandbox.app import create_app

from .conftest import PNID, TOKEN, WABA_ID, make_settings


async def test_shared_graph_client_round_trip() -> None:
    app = create_app(make_settings())
    client = GraphClient(
        base_url="http://sandbox",
        api_version="v23.0",
        tokens=AccessTokenProvider(TOKEN),
        transport=httpx.ASGITransport(app=app),
    )
    try:
        result = await client.send_template(
            PNID,
            to="+34600111222",
            template_name="po_notification",
            language="es",
            body_parameters=["Ana", "OC-1", "12,50 €"],
            biz_opaque_callback_data="n=1",
        )
        assert result.wamid.startswith("wamid.") and result.wa_id == "34600111222"
        numbers = await client.list_phone_numbers(WABA_ID)
        assert len(numbers) == 10 and numbers[0]["whatsapp_business_manager_messaging_limit"] == "TIER_2K"
        one = await client.get_phone_number(PNID)
        assert one["verified_name"] == "Panadería Sol" and one["status"] == "CONNECTED"
        templates = await client.list_templates(WABA_ID)
        assert {t["language"] for t in templates} == {"es", "en"}
        with pytest.raises(GraphError) as exc:
            await client.send_template(
                PNID, to="+34600111222", template_name="po_notification", language="fr", body_parameters=["a"]
            )
        assert exc.value.code == 132001 and exc.value.http_status == 404
    finally:
        await client.aclose()
        await app.state.dispatcher.aclose()


async def test_shared_graph_client_sends_by_user_id() -> None:
    """A send by business-scoped user ID (``recipient``, Meta 2026) through the project's client: possible
    today although the product sends to phone numbers; without a phone number or an ID there is no send."""
    app = create_app(make_settings())
    client = GraphClient(
        base_url="http://sandbox",
        api_version="v23.0",
        tokens=AccessTokenProvider(TOKEN),
        transport=httpx.ASGITransport(app=app),
    )
    try:
        user_id = app.state.sandbox.set_user("34600111222", username=None, hide_phone=True, parent=False).user_id
        result = await client.send_template(
            PNID, to=None, recipient=user_id, template_name="po_notification", language="es",
            body_parameters=["Ana", "OC-1", "12,50 €"],
        )  # fmt: skip
        assert result.user_id == user_id and result.wa_id is None
        record = app.state.sandbox.message(result.wamid)
        assert record is not None and record.wa_id == "34600111222" and record.recipient_user_id == user_id
        with pytest.raises(ValueError, match="phone number"):
            await client.send_template(
                PNID, to=None, template_name="po_notification", language="es", body_parameters=["a"]
            )
    finally:
        await client.aclose()
        await app.state.dispatcher.aclose()
