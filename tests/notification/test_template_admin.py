"""Templates managed from here, against the sandbox (Meta's edge) with the service over real HTTP: the plan
(missing / present / another category), submit (created, then skipped; Meta's refusal reported), and Meta's review
arriving as the ``message_template_status_update`` webhook that the service records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from notification_service.domain import templates as definitions

from .sandbox_stack import E2E, SANDBOX_TOKEN, eventually, sandbox_stack

WABA = "100000000000001"
GRAPH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


@pytest.fixture(autouse=True)
def _only_the_purchase_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about plan and submit, shown on one template: the product's other kinds (alerts, the PDF
    variant) are covered by tests/e2e/test_templates_stack.py and domain/test_template_specs.py."""
    from notification_service.domain import templates as definitions

    only = {definitions.PO_NOTIFICATION: definitions.TEMPLATES[definitions.PO_NOTIFICATION]}
    monkeypatch.setattr(definitions, "TEMPLATES", only)


@pytest.fixture
async def e2e(database_url: str) -> AsyncIterator[E2E]:
    async with sandbox_stack(database_url) as stack:
        yield stack


async def plan(e2e: E2E) -> dict[tuple[str, str], dict[str, Any]]:
    r = await e2e.api.get("/api/v1/admin/whatsapp/templates/plan", headers=e2e.admin)
    assert r.status_code == 200, r.text
    return {(t["name"], t["language"]): t for t in r.json()["templates"]}


async def recorded(e2e: E2E) -> dict[str, str]:
    """The service's own record of po_notification's status per language (webhooks and sync)."""
    r = await e2e.api.get("/api/v1/admin/whatsapp/templates", headers=e2e.admin)
    assert r.status_code == 200, r.text
    rows = next((t for t in r.json()["templates"] if t["name"] == "po_notification"), {"languages": []})
    return {lang["language"]: lang["status"] for lang in rows["languages"]}


async def delete_po_templates(e2e: E2E, language: str | None = None) -> None:
    """What Meta's WABA would look like before anyone created them (the seed has both, approved)."""
    params = {"name": "po_notification"}
    if language:
        listed = (await e2e.sandbox.get(f"/v23.0/{WABA}/message_templates", params=params, headers=GRAPH)).json()
        params["hsm_id"] = next(t["id"] for t in listed["data"] if t["language"] == language)
    r = await e2e.sandbox.delete(f"/v23.0/{WABA}/message_templates", params=params, headers=GRAPH)
    assert r.json() == {"success": True}, r.text


async def test_plan_shows_missing_present_and_another_category(e2e: E2E) -> None:
    seeded = await plan(e2e)
    assert {k: v["state"] for k, v in seeded.items()} == {
        ("po_notification", "en"): "present",
        ("po_notification", "es"): "present",
    }
    assert seeded[("po_notification", "es")]["waba"]["status"] == "APPROVED"

    await delete_po_templates(e2e, "es")
    r = await e2e.sandbox.post(
        "/_sandbox/templates/category", json={"name": "po_notification", "language": "en", "category": "MARKETING"}
    )
    assert r.status_code == 200
    await e2e.sandbox.post(
        "/_sandbox/templates",
        json={"name": "old_promo", "language": "es", "category": "MARKETING", "status": "APPROVED",
              "components": [{"type": "BODY", "text": "Hola"}]},
    )  # fmt: skip
    r = await e2e.api.get("/api/v1/admin/whatsapp/templates/plan", headers=e2e.admin)
    body = r.json()
    items = {(t["name"], t["language"]): t for t in body["templates"]}
    es, en = items[("po_notification", "es")], items[("po_notification", "en")]
    assert (es["state"], es["waba"]) == ("missing", None)
    assert es["category"] == "UTILITY"
    example = next(c for c in es["components"] if c["type"] == "BODY")["example"]["body_text"][0]
    assert len(example) == 3 and all(example)
    assert (en["state"], en["waba"]["category"], en["waba"]["status"]) == ("differs", "MARKETING", "APPROVED")
    assert {"name": "old_promo", "language": "es", "status": "APPROVED", "category": "MARKETING"} in body["extra"]


async def test_submit_creates_the_missing_ones_then_skips_and_review_approves(e2e: E2E) -> None:
    await delete_po_templates(e2e)
    await e2e.sandbox.post("/_sandbox/limits", json={"template_auto_approve_seconds": 0.3})
    r = await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["skipped"], body["refused"]) == (2, 0, 0)
    assert {(x["language"], x["result"], x["status"]) for x in body["results"]} == {
        ("es", "created", "PENDING"),
        ("en", "created", "PENDING"),
    }
    listed = (await e2e.sandbox.get(f"/v23.0/{WABA}/message_templates?name=po_notification", headers=GRAPH)).json()
    created = next(t for t in listed["data"] if t["language"] == "es" and t["name"] == "po_notification")
    assert created["components"][0]["example"]["body_text"] == [["Proveedor de prueba", "PO-TEST-0001", "125,50 €"]]
    assert [b["text"] for b in created["components"][1]["buttons"]] == ["Confirmar", "Rechazar"]

    again = (await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)).json()
    assert (again["created"], again["skipped"], again["refused"]) == (0, 2, 0)

    async def approved() -> bool:
        return await recorded(e2e) == {"es": "APPROVED", "en": "APPROVED"}

    await eventually(approved)  # the status webhook reached the service and was recorded
    assert {k[1]: (v["state"], v["waba"]["status"]) for k, v in (await plan(e2e)).items()} == {
        "es": ("present", "APPROVED"),
        "en": ("present", "APPROVED"),
    }


async def test_a_rejection_by_the_review_knob_is_reported_and_recorded(e2e: E2E) -> None:
    await delete_po_templates(e2e, "en")
    await e2e.sandbox.post("/_sandbox/limits", json={"template_auto_approve_seconds": 0.1})
    await e2e.sandbox.post(
        "/_sandbox/templates/review",
        json={"name": "po_notification", "status": "REJECTED", "reason": "TAG_CONTENT_MISMATCH"},
    )
    body = (await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)).json()
    assert {(x["language"], x["result"]) for x in body["results"]} == {("es", "skipped"), ("en", "created")}

    async def rejected() -> bool:
        return (await recorded(e2e)).get("en") == "REJECTED"

    await eventually(rejected)
    item = (await plan(e2e))[("po_notification", "en")]
    assert (item["state"], item["waba"]["status"]) == ("present", "REJECTED")
    r = await e2e.api.get("/api/v1/admin/whatsapp/templates", headers=e2e.admin)
    en = next(lang for t in r.json()["templates"] for lang in t["languages"] if lang["language"] == "en")
    assert en["reason"] == "TAG_CONTENT_MISMATCH"


async def test_meta_refusing_a_creation_is_reported_with_its_error_and_no_token(e2e: E2E) -> None:
    await delete_po_templates(e2e)
    # Meta's 250-template cap (error 100, subcode 2388019) as the refusal: fill the WABA with other templates
    for i in range(250):
        r = await e2e.sandbox.post(
            "/_sandbox/templates",
            json={"name": f"filler_{i}", "language": "es", "category": "UTILITY", "status": "APPROVED",
                  "components": [{"type": "BODY", "text": "Hola"}]},
        )  # fmt: skip
        assert r.status_code == 200
    r = await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["refused"]) == (0, 2)
    refused = body["results"][0]
    assert (refused["result"], refused["error_code"], refused["error_subcode"]) == ("refused", 100, 2388019)
    assert "250 message templates" in refused["error"]
    assert SANDBOX_TOKEN not in r.text


async def test_not_configured_is_a_clear_503(sqlite_url: str) -> None:
    async with sandbox_stack(sqlite_url, whatsapp_business_account_id="") as e2e:
        r = await e2e.api.get("/api/v1/admin/whatsapp/templates/plan", headers=e2e.admin)
        assert r.status_code == 503
        assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in r.json()["detail"]


async def test_a_definition_without_wording_is_reported_not_a_500(e2e: E2E, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = definitions.TemplateSpec(
        name="stock_report",
        languages={"es": "es"},
        render=lambda values, language: [str(values["product"])],
        sample_values={"product": "Harina"},
    )
    monkeypatch.setitem(definitions.TEMPLATES, "stock_report", spec)
    item = (await plan(e2e))[("stock_report", "es")]
    assert (item["state"], item["components"]) == ("unbuildable", [])
    assert "no wording for template stock_report (es)" in item["error"]
    r = await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["unbuildable"], body["skipped"], body["created"]) == (1, 2, 0)
    listed = (await e2e.sandbox.get(f"/v23.0/{WABA}/message_templates?name=stock_report", headers=GRAPH)).json()
    assert listed["data"] == []  # nothing was sent to Meta


async def delete_templates(e2e: E2E, name: str) -> None:
    r = await e2e.sandbox.delete(f"/v23.0/{WABA}/message_templates", params={"name": name}, headers=GRAPH)
    assert r.json() == {"success": True}, r.text


#: the registry as shipped (read at import, before the autouse fixture keeps only the purchase order)
PDF_VARIANT = definitions.TEMPLATES[definitions.PO_NOTIFICATION_DOCUMENT]


async def test_the_pdf_variant_is_submitted_with_an_uploaded_sample_as_its_header_example(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: the DOCUMENT header's example is a handle of Meta's Resumable Upload API (a sample purchase order
    in the template's language), which the sandbox checks as Meta does (an unknown handle is 2388273)."""
    monkeypatch.setattr(definitions, "TEMPLATES", {definitions.PO_NOTIFICATION_DOCUMENT: PDF_VARIANT})
    item = (await plan(e2e))[("po_notification_document", "es")]
    assert item["components"][0] == {"type": "HEADER", "format": "DOCUMENT"}  # the handle comes at submission
    await delete_templates(e2e, "po_notification_document")
    r = await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["refused"]) == (2, 0), r.text
    listed = (
        await e2e.sandbox.get(f"/v23.0/{WABA}/message_templates?name=po_notification_document", headers=GRAPH)
    ).json()["data"]
    handles = {t["language"]: t["components"][0]["example"]["header_handle"] for t in listed}
    assert set(handles) == {"es", "en"} and all(len(h) == 1 and h[0] for h in handles.values())


async def test_the_pdf_variant_without_an_app_id_is_refused_with_what_to_set(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        definitions,
        "TEMPLATES",
        {definitions.PO_NOTIFICATION: definitions.TEMPLATES[definitions.PO_NOTIFICATION],
         definitions.PO_NOTIFICATION_DOCUMENT: PDF_VARIANT},
    )  # fmt: skip
    async with sandbox_stack(database_url, whatsapp_app_id="") as e2e:
        await delete_templates(e2e, "po_notification_document")
        body = (await e2e.api.post("/api/v1/admin/whatsapp/templates/submit", headers=e2e.admin)).json()
        results = {(x["name"], x["language"]): x for x in body["results"]}
        assert (body["refused"], body["skipped"]) == (2, 2)  # the text-only template is already there
        refused = results[("po_notification_document", "es")]
        assert refused["result"] == "refused" and "WHATSAPP_APP_ID" in refused["error"]
