# mypy: disable-error-code="misc,arg-type"
"""The sandbox seen through a third-party client: pywa (sync) sends templates, gets typed results and typed
errors, and parses/validates the sandbox's signed webhooks with its own webhook server code.

pywa always talks to graph.facebook.com; an httpx transport rewrites those URLs to the sandbox's port."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

pywa = pytest.importorskip("pywa")

from fastapi import FastAPI  # noqa: E402
from pywa import WhatsApp, errors, utils  # noqa: E402
from pywa import types as pywa_types  # noqa: E402
from pywa.types.templates import BodyText, TemplateLanguage  # noqa: E402

from wa_sandbox.app import create_app  # noqa: E402

from .conftest import APP_SECRET, PNID, TOKEN, VERIFY_TOKEN, WABA_ID, ThreadServer, make_settings  # noqa: E402

CUSTOMER = "+34600111222"


class ToSandbox(httpx.HTTPTransport):
    """Send every request to the sandbox, keeping path and query (pywa pins its base URL to Meta)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return super().handle_request(request)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def stack(thread_server: Callable[[Any], ThreadServer]) -> dict[str, Any]:
    """Sandbox + a pywa webhook server, both real uvicorn servers; pywa's client pointed at the sandbox."""
    receiver_app = FastAPI()
    sandbox_server = thread_server(create_app(make_settings()))
    updates: list[Any] = []
    wa = WhatsApp(
        phone_id=PNID,
        token=TOKEN,
        session=httpx.Client(transport=ToSandbox(sandbox_server.port), timeout=5),
        server=receiver_app,
        verify_token=VERIFY_TOKEN,
        app_secret=APP_SECRET,
        waba_id=WABA_ID,
        api_version="23.0",
    )

    @wa.on_message_status()
    def on_status(_: WhatsApp, status: pywa_types.MessageStatus) -> None:
        updates.append(status)

    @wa.on_message()
    def on_message(_: WhatsApp, message: pywa_types.Message) -> None:
        updates.append(message)

    @wa.on_callback_button()
    def on_button(_: WhatsApp, button: pywa_types.CallbackButton) -> None:
        updates.append(button)

    receiver_server = thread_server(receiver_app)
    control = httpx.Client(base_url=sandbox_server.url, timeout=5)
    control.post("/_sandbox/webhook", json={"url": receiver_server.url + "/"}).raise_for_status()
    return {"wa": wa, "updates": updates, "control": control}


def send_po(wa: WhatsApp, language: TemplateLanguage = TemplateLanguage.SPANISH, **kwargs: Any) -> Any:
    return wa.send_template(
        to=CUSTOMER,
        name="po_notification",
        language=language,
        params=[BodyText.params("Ana", "OC-2026-0001", "12,50 €")],
        **kwargs,
    )


def test_pywa_send_template_typed_result(stack: dict[str, Any]) -> None:
    wa, control = stack["wa"], stack["control"]
    sent = send_po(wa, tracker="notif=42")
    assert isinstance(sent, pywa_types.SentTemplate)
    assert sent.id.startswith("wamid.")
    assert sent.from_phone_id == PNID
    record = control.get("/_sandbox/messages").json()[-1]
    assert record["wamid"] == sent.id
    assert record["request"]["template"]["components"][0]["parameters"][0] == {"type": "text", "text": "Ana"}
    assert record["biz_opaque_callback_data"] == "notif=42"
    assert record["rendered_body"].startswith("Hola Ana, has recibido una nueva orden de compra OC-2026-0001")


def test_pywa_typed_errors(stack: dict[str, Any]) -> None:
    wa, control = stack["wa"], stack["control"]
    with pytest.raises(errors.TemplateNotExists) as not_found:
        send_po(wa, language=TemplateLanguage.FRENCH)
    assert not_found.value.code == 132001 and not_found.value.status_code == 404
    assert not_found.value.fbtrace_id

    control.post("/_sandbox/limits", json={"throughput_per_second": 1}).raise_for_status()
    send_po(wa)
    with pytest.raises(errors.RateLimitHit) as throttled:
        send_po(wa)
    assert throttled.value.code == 130429 and throttled.value.details
    control.post("/_sandbox/limits", json={"throughput_per_second": 80, "pair_limit": 1}).raise_for_status()
    send_po(wa)  # limits reset the pair buckets: one message to this customer is allowed
    with pytest.raises(errors.TooManyMessages) as pair:
        send_po(wa)
    assert pair.value.code == 131056

    control.post("/_sandbox/reset").raise_for_status()
    with pytest.raises(errors.TemplateParamCountMismatch) as mismatch:
        wa.send_template(
            to=CUSTOMER, name="po_notification", language=TemplateLanguage.SPANISH, params=[BodyText.params("Ana")]
        )
    assert "number of localizable_params (1)" in (mismatch.value.details or "")
    control.post("/_sandbox/templates/status", json={"name": "po_notification", "status": "PAUSED"})
    with pytest.raises(errors.TemplatePaused):
        send_po(wa)
    control.post("/_sandbox/token/expire").raise_for_status()
    with pytest.raises(errors.ExpiredAccessToken) as expired:
        send_po(wa)
    assert expired.value.subcode == 463 and expired.value.status_code == 401


def test_pywa_parses_signed_status_webhooks(stack: dict[str, Any]) -> None:
    wa, control, updates = stack["wa"], stack["control"], stack["updates"]
    sent = send_po(wa, tracker="notif=7")
    wait_for(lambda: len([u for u in updates if isinstance(u, pywa_types.MessageStatus)]) >= 3)
    statuses = [u for u in updates if isinstance(u, pywa_types.MessageStatus)]
    # Meta does not promise webhook order, and the deliveries run concurrently: compare as a set.
    assert {s.status for s in statuses} == {
        pywa_types.MessageStatusType.SENT,
        pywa_types.MessageStatusType.DELIVERED,
        pywa_types.MessageStatusType.READ,
    } and len(statuses) == 3
    assert all(s.id == sent.id and s.tracker == "notif=7" for s in statuses)
    first = next(s for s in statuses if s.status == pywa_types.MessageStatusType.SENT)
    assert first.from_user.wa_id == "34600111222"
    assert first.metadata.phone_number_id == PNID
    assert first.pricing is not None and first.pricing.billable is True
    wait_for(lambda: len(control.get("/_sandbox/webhooks", params={"delivered": "true"}).json()) == 3)
    deliveries = control.get("/_sandbox/webhooks").json()
    assert all(d["attempts"][-1]["http_status"] == 200 for d in deliveries)
    for delivery in deliveries:  # pywa's own validator accepts the signature over the exact bytes
        assert utils.webhook_updates_validator(APP_SECRET, delivery["raw"].encode(), delivery["signature"])


def test_pywa_types_the_error_of_a_failed_status(stack: dict[str, Any]) -> None:
    """A failed status carries no ``contacts`` (Meta page "Business-scoped user IDs", 2026). pywa 4.5.0's
    ``MessageStatus.from_update`` reads ``contacts[0]`` and cannot build that update, so the error is typed from the
    delivered body with pywa's own error map."""
    wa, control = stack["wa"], stack["control"]
    control.post("/_sandbox/knobs", json={"next": 1, "knobs": {"fail_code": 131026}}).raise_for_status()
    sent = send_po(wa)
    wait_for(lambda: bool(control.get("/_sandbox/webhooks", params={"status": "failed"}).json()))
    delivery = control.get("/_sandbox/webhooks", params={"status": "failed"}).json()[0]
    value = delivery["body"]["entry"][0]["changes"][0]["value"]
    assert "contacts" not in value
    status = value["statuses"][0]
    assert (
        status["id"] == sent.id
        and pywa_types.MessageStatusType(status["status"]) is pywa_types.MessageStatusType.FAILED
    )
    error = errors.WhatsAppError.from_dict(error=status["errors"][0])
    assert isinstance(error, errors.MessageUndeliverable)
    assert error.code == 131026


def test_pywa_rejects_bad_signature_and_sandbox_retries(stack: dict[str, Any]) -> None:
    wa, control, updates = stack["wa"], stack["control"], stack["updates"]
    control.post("/_sandbox/webhook", json={"app_secret": "not-the-app-secret", "max_attempts": 2}).raise_for_status()
    control.post("/_sandbox/knobs", json={"knobs": {"stop_after": "sent"}}).raise_for_status()
    send_po(wa)
    wait_for(
        lambda: (
            bool(control.get("/_sandbox/webhooks").json()) and control.get("/_sandbox/webhooks").json()[0]["gave_up"]
        )
    )
    attempts = control.get("/_sandbox/webhooks").json()[0]["attempts"]
    assert [a["http_status"] for a in attempts] == [403, 403]
    assert updates == []


def test_pywa_inbound_text_and_button(stack: dict[str, Any]) -> None:
    control, updates = stack["control"], stack["updates"]
    control.post(
        "/_sandbox/inbound", json={"from": CUSTOMER, "phone_number_id": PNID, "text": "¿Abrís hoy?", "name": "Lucía"}
    )
    control.post(
        "/_sandbox/inbound",
        json={"from": CUSTOMER, "phone_number_id": PNID, "button": {"payload": "CONFIRM", "text": "Confirmar"}},
    )
    wait_for(lambda: len(updates) >= 2)
    message = next(u for u in updates if isinstance(u, pywa_types.Message))
    assert message.text == "¿Abrís hoy?" and message.from_user.name == "Lucía"
    assert message.from_user.wa_id == "34600111222"
    button = next(u for u in updates if isinstance(u, pywa_types.CallbackButton))
    assert button.data == "CONFIRM" and button.title == "Confirmar"
