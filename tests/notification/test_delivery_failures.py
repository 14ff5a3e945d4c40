"""services/delivery_failures.py against the sandbox: the same Meta error, refused at once (sync) or reported in
a ``failed`` status webhook (async), has the same effects beyond its message: 131026 marks the supplier
unreachable for that bakery only (the owner sees it and can clear it), 131056 delays that pair only, 131049 makes
that pair wait 24 h, a late 131048 holds the number."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from notification_service.models import rate_limit_state

from .helpers import token
from .sandbox_stack import E2E, NUMBER, eventually
from .test_sandbox_e2e import e2e  # noqa: F401 - the fixture

NUMBER2 = "200000000000002"
SUPPLIER = "+34600111222"
OTHER_SUPPLIER = "+34600333444"


def _due(message: dict) -> datetime:  # type: ignore[type-arg]
    return datetime.fromisoformat(message["due_at"])


async def _fault(e2e: E2E, code: int, number: str = NUMBER) -> None:  # noqa: F811
    r = await e2e.sandbox.post("/_sandbox/faults", json={"code": code, "count": 1, "phone_number_id": number})
    assert r.status_code == 200, r.text


async def _failed(e2e: E2E, message_id: str) -> dict:  # type: ignore[type-arg]  # noqa: F811
    async def check() -> bool:
        return (await e2e.message(message_id))["status"] == "failed"

    await eventually(check)
    return await e2e.message(message_id)


async def _unreachable(e2e: E2E, tenant: object, as_tenant: object | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]  # noqa: F811
    owner = token(e2e.dispatcher.settings, "owner", as_tenant or tenant)
    r = await e2e.api.get(f"/api/v1/tenants/{tenant}/whatsapp/unreachable", headers=owner)
    return r.status_code, r.json()


async def test_131026_sync_marks_the_supplier_unreachable_for_that_bakery_only(e2e: E2E) -> None:  # noqa: F811
    bakery = e2e.tenants.add(phone_number_id=NUMBER)
    other_bakery = e2e.tenants.add(phone_number_id=NUMBER2)
    await _fault(e2e, 131026)
    first = await e2e.message(await e2e.send_po(bakery, SUPPLIER))
    assert first["status"] == "failed" and first["error_code"] == "131026"
    assert first["status_reason"].startswith("supplier_unreachable: (131026)")

    # the owner sees it; another bakery's owner may not look
    status, seen = await _unreachable(e2e, bakery)
    assert status == 200 and [s["recipient_phone"] for s in seen["suppliers"]] == [SUPPLIER]
    assert seen["suppliers"][0]["error_code"] == "131026" and seen["suppliers"][0]["retried_after"]
    assert (await _unreachable(e2e, bakery, as_tenant=other_bakery))[0] == 403
    assert (await _unreachable(e2e, other_bakery))[1]["suppliers"] == []

    # not retried blindly: the next order of that bakery to that supplier is skipped, no send is made
    sends_before = len((await e2e.sandbox.get("/_sandbox/messages")).json())
    again = await e2e.message(await e2e.send_po(bakery, SUPPLIER))
    assert again["status"] == "skipped" and again["status_reason"].startswith("supplier_unreachable:")
    assert again["attempts"] == 0
    # another bakery sending to the same supplier is unaffected
    theirs = await e2e.message(await e2e.send_po(other_bakery, SUPPLIER))
    assert theirs["status"] in ("sent", "delivered", "read") and theirs["wamid"]
    assert len((await e2e.sandbox.get("/_sandbox/messages")).json()) == sends_before + 1

    # the owner clears it (e.g. the supplier installed WhatsApp): the next order goes out
    owner = token(e2e.dispatcher.settings, "owner", bakery)
    cleared = await e2e.api.delete(f"/api/v1/tenants/{bakery}/whatsapp/unreachable/{SUPPLIER}", headers=owner)
    assert cleared.status_code == 200 and cleared.json()["cleared"] is True
    missing = await e2e.api.delete(f"/api/v1/tenants/{bakery}/whatsapp/unreachable/{SUPPLIER}", headers=owner)
    assert missing.status_code == 404
    bad = await e2e.api.delete(f"/api/v1/tenants/{bakery}/whatsapp/unreachable/not-a-phone", headers=owner)
    assert bad.status_code == 422 and "phone" in bad.json()["detail"]
    after = await e2e.message(await e2e.send_po(bakery, SUPPLIER))
    assert after["status"] in ("sent", "delivered", "read")


async def test_131026_async_marks_the_supplier_unreachable_too(e2e: E2E) -> None:  # noqa: F811
    bakery = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/knobs", json={"to": SUPPLIER, "knobs": {"fail_code": 131026}})
    first = await _failed(e2e, await e2e.send_po(bakery, SUPPLIER))
    assert first["wamid"] and first["error_code"] == "131026"  # Meta accepted it, then reported it undeliverable

    async def marked() -> bool:
        return len((await _unreachable(e2e, bakery))[1]["suppliers"]) == 1

    await eventually(marked)
    again = await e2e.message(await e2e.send_po(bakery, SUPPLIER))
    assert again["status"] == "skipped" and again["status_reason"].startswith("supplier_unreachable:")


async def test_131056_delays_only_that_pair(e2e: E2E) -> None:  # noqa: F811
    bakery = e2e.tenants.add(phone_number_id=NUMBER)
    await _fault(e2e, 131056)
    paced = await e2e.message(await e2e.send_po(bakery, SUPPLIER))
    assert paced["status"] == "queued" and paced["status_reason"].startswith("throttled:")
    assert paced["error_code"] == "131056"
    # the same number sends to another supplier at once, while that pair still waits for Meta's 4^x s
    other = await e2e.message(await e2e.send_po(bakery, OTHER_SUPPLIER))
    assert other["status"] in ("sent", "delivered", "read")
    assert datetime.fromisoformat(other["sent_at"]) < _due(paced)
    assert (await e2e.message(paced["id"]))["status"] == "queued"
    async with e2e.dispatcher.gate.ctx.sessions() as session:  # the pair's shared row is pushed, not the number's
        rows = dict((await session.execute(sa.select(rate_limit_state.c.key, rate_limit_state.c.tat))).all())
    assert rows[f"pair:{NUMBER}:{SUPPLIER}"] == _due(paced)
    assert rows[f"num:{NUMBER}"] < _due(paced)


async def test_131049_makes_that_pair_wait_24_hours_sync_and_async(e2e: E2E) -> None:  # noqa: F811
    bakery = e2e.tenants.add(phone_number_id=NUMBER)
    # synchronous: the message itself waits 24 h (Meta: an earlier resend only fails again), never failed for it
    await _fault(e2e, 131049)
    waiting = await e2e.message(await e2e.send_po(bakery, SUPPLIER))
    assert waiting["status"] == "queued" and waiting["error_code"] == "131049"
    assert _due(waiting) - datetime.fromisoformat(waiting["updated_at"]) >= timedelta(hours=23, minutes=59)
    # asynchronous (how Meta usually reports it): that wamid failed; the pair's next message waits 24 h
    await e2e.sandbox.post("/_sandbox/knobs", json={"to": OTHER_SUPPLIER, "knobs": {"fail_code": 131049}})
    failed = await _failed(e2e, await e2e.send_po(bakery, OTHER_SUPPLIER))
    assert failed["error_code"] == "131049"
    await e2e.sandbox.delete("/_sandbox/knobs")
    later = await e2e.message(await e2e.send_po(bakery, OTHER_SUPPLIER))
    assert later["status"] == "queued" and later["status_reason"].startswith("rate_limited: pacing")
    assert _due(later) - datetime.fromisoformat(failed["failed_at"]) >= timedelta(hours=23, minutes=59)
    # a third supplier from the same number is not delayed
    third = await e2e.message(await e2e.send_po(bakery, "+34600555666"))
    assert third["status"] in ("sent", "delivered", "read")


async def test_a_late_131048_holds_the_number_like_a_synchronous_one(e2e: E2E) -> None:  # noqa: F811
    bakery = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/knobs", json={"to": SUPPLIER, "knobs": {"fail_code": 131048}})
    await _failed(e2e, await e2e.send_po(bakery, SUPPLIER))

    async def held() -> bool:
        quality = (await e2e.api.get("/api/v1/admin/whatsapp/quality", headers=e2e.admin)).json()
        return any(n["held"] for n in quality["numbers"] if n["phone_number_id"] == NUMBER)

    await eventually(held)
    nxt = await e2e.message(await e2e.send_po(bakery, OTHER_SUPPLIER))
    assert nxt["status"] == "held" and "131048" in nxt["status_reason"]
