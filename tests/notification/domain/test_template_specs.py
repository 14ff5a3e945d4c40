"""What the product needs at Meta: the create-template bodies built from the template definitions."""

from __future__ import annotations

import pytest

from notification_service.domain import templates as definitions
from notification_service.domain.template_specs import (
    RequiredTemplate,
    SpecError,
    SpecProblem,
    TemplateText,
    build_components,
    placeholders,
    required_templates,
    required_templates_or_problems,
)


def test_every_sent_template_and_language_is_required_free_form_texts_are_not() -> None:
    items = required_templates_or_problems()
    required = {(r.name, r.language) for r in items if not isinstance(r, SpecProblem)}
    kinds = ("po_notification", "po_notification_document", "inventory_alert", "production_alert")
    assert required == {(name, language) for name in kinds for language in ("es", "en")}
    assert all(name != definitions.SUPPLIER_ACK for name, _ in required)
    assert [p for p in items if isinstance(p, SpecProblem)] == []


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_pdf_variant_has_a_document_header_whose_example_is_the_upload_handle(language: str) -> None:
    """Meta's review needs ``example.header_handle`` (a Resumable Upload handle, not a media id): the plan shows
    the header without it, the create body carries the handle obtained at submission, and none is refused."""
    spec = next(
        r for r in required_templates() if r.name == definitions.PO_NOTIFICATION_DOCUMENT and r.language == language
    )
    assert spec.media_header == "DOCUMENT"
    assert spec.components[0] == {"type": "HEADER", "format": "DOCUMENT"}
    with pytest.raises(SpecError, match="needs a handle"):
        spec.create_body()
    body = spec.create_body(header_handle="4::aGFuZGxl")
    assert body["components"][0] == {
        "type": "HEADER",
        "format": "DOCUMENT",
        "example": {"header_handle": ["4::aGFuZGxl"]},
    }
    assert spec.components[0] == {"type": "HEADER", "format": "DOCUMENT"}  # the spec itself is unchanged
    assert [c["type"] for c in body["components"]] == ["HEADER", "BODY", "BUTTONS"]


def test_the_pdf_variant_wording_matches_the_sandbox_seed() -> None:
    from wa_sandbox.seed import load_seed

    seed = {(t["name"], t["language"]): t for t in load_seed()["templates"]}
    for required in required_templates():
        if required.name != definitions.PO_NOTIFICATION_DOCUMENT:
            continue
        seeded = seed[(required.name, required.language)]
        assert seeded["components"][1]["text"] == required.components[1]["text"]
        assert seeded["components"][2]["buttons"] == required.components[2]["buttons"]


def test_a_file_header_leaves_no_room_for_a_text_header() -> None:
    with pytest.raises(SpecError, match="one header"):
        build_components(TemplateText(body="Pedido {{1}} adjunto.", header="Aviso"), ["PO-1"], media_header="DOCUMENT")


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_body_has_one_example_for_each_parameter_rendered_as_a_send_renders_it(language: str) -> None:
    spec = next(
        r
        for r in required_templates_or_problems()
        if isinstance(r, RequiredTemplate) and r.name == "po_notification" and r.language == language
    )
    body = next(c for c in spec.components if c["type"] == "BODY")
    examples = body["example"]["body_text"]
    assert len(examples) == 1 and len(examples[0]) == len(placeholders(body["text"])) == 3
    sample = definitions.TEMPLATES["po_notification"].sample_values
    rendered = definitions.render("po_notification", sample, language, None).parameters
    assert examples[0] == rendered
    assert examples[0][2] == {"es": "125,50 €", "en": "€125.50"}[language]


#: the purchase order alone (the alerts have no buttons; the PDF variant's header is tested above)
PO_ONLY = {definitions.PO_NOTIFICATION: definitions.TEMPLATES[definitions.PO_NOTIFICATION]}


def test_the_create_body_is_meta_shaped_with_quick_replies_in_the_definition_order() -> None:
    es = next(r for r in required_templates(PO_ONLY) if r.language == "es").create_body()
    assert (es["name"], es["language"], es["category"], es["parameter_format"]) == (
        "po_notification",
        "es",
        "UTILITY",
        "POSITIONAL",
    )
    buttons = next(c for c in es["components"] if c["type"] == "BUTTONS")["buttons"]
    assert buttons == [{"type": "QUICK_REPLY", "text": "Confirmar"}, {"type": "QUICK_REPLY", "text": "Rechazar"}]
    assert [c["type"] for c in es["components"]] == ["BODY", "BUTTONS"]


def test_the_wording_matches_the_sandbox_seed_so_an_approved_seed_is_present() -> None:
    from wa_sandbox.seed import load_seed

    seed = {(t["name"], t["language"]): t for t in load_seed()["templates"]}
    for required in required_templates(PO_ONLY):
        seeded = seed[(required.name, required.language)]
        assert [c["type"] for c in seeded["components"]] == [c["type"] for c in required.components]
        assert seeded["components"][0]["text"] == required.components[0]["text"]
        assert seeded["components"][1]["buttons"] == required.components[1]["buttons"]


def test_header_and_footer_and_no_example_without_variables() -> None:
    components = build_components(
        TemplateText(body="Stock bajo de {{1}}.", header="Aviso", footer="Panadería"), ["Harina"]
    )
    assert components == [
        {"type": "HEADER", "format": "TEXT", "text": "Aviso"},
        {"type": "BODY", "text": "Stock bajo de {{1}}.", "example": {"body_text": [["Harina"]]}},
        {"type": "FOOTER", "text": "Panadería"},
    ]
    assert build_components(TemplateText(body="Sin variables."), []) == [{"type": "BODY", "text": "Sin variables."}]


@pytest.mark.parametrize(
    ("text", "example", "buttons", "message"),
    [
        (TemplateText(body="Pedido {{1}} de {{2}}."), ["x"], (), "2 variables but 1 sample"),
        (TemplateText(body="{{1}} pedido."), ["x"], (), "starts or ends with a variable"),
        (TemplateText(body="Pedido {{1}}"), ["x"], (), "starts or ends with a variable"),
        (TemplateText(body="Pedido {{1}}.", header="Hola {{1}}"), ["x"], (), "header variable"),
        (TemplateText(body="Pedido {{1}}."), ["x"], ("confirm", "archive"), "no button label for archive"),
    ],
)
def test_a_definition_meta_would_refuse_is_a_clear_error(
    text: TemplateText, example: list[str], buttons: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        build_components(text, example, buttons, "es")


def test_a_definition_without_wording_is_named() -> None:
    spec = definitions.TemplateSpec(
        name="stock_report", languages={"es": "es"}, render=lambda v, lang: [str(v["p"])], sample_values={"p": "x"}
    )
    with pytest.raises(SpecError, match=r"no wording for template stock_report \(es\)"):
        required_templates({"stock_report": spec})


def test_or_problems_names_what_cannot_be_built_and_keeps_the_rest() -> None:
    from notification_service.domain.template_specs import SpecProblem, required_templates_or_problems

    spec = definitions.TemplateSpec(
        name="stock_report", languages={"es": "es"}, render=lambda v, lang: [str(v["p"])], sample_values={"p": "x"}
    )
    po = definitions.TEMPLATES[definitions.PO_NOTIFICATION]
    items = required_templates_or_problems({definitions.PO_NOTIFICATION: po, "stock_report": spec})
    problems = [i for i in items if isinstance(i, SpecProblem)]
    assert [(p.name, p.language) for p in problems] == [("stock_report", "es")]
    assert len(items) == 3
