"""What the product needs at Meta: the create-template request of each (template, language) it sends.

Pure: no I/O. :func:`required_templates` is the one place that reads the template definitions
(:mod:`notification_service.domain.templates`) to build Meta's ``POST /<WABA_ID>/message_templates`` body:
``name``, ``language``, ``category`` (UTILITY), ``parameter_format`` and ``components`` — an optional text
``HEADER`` (or a ``DOCUMENT`` header, whose example is a Resumable Upload handle added at submission), the
``BODY`` with ``example.body_text`` (one sample value per ``{{n}}``, rendered from the definition's
``sample_values`` exactly as a real send renders them), an optional ``FOOTER`` and, when the definition has
quick-reply actions, ``BUTTONS`` with one ``QUICK_REPLY`` per action in the definition's button order.

Meta refuses a component with a variable and no example (error 100, subcode 2388043, "missing expected field(s)
(example)"), and a body that starts or ends with a variable (subcode 2388299). Sources: Meta's "Create and manage
templates" and "Message Template API" reference pages (developers.facebook.com/docs/whatsapp/business-management-api/
message-templates), read 2026-12; the reference notes on the Cloud API, §5.

The texts below are the templates' wording at Meta (the sandbox's seed carries the same texts); the definitions
carry no text because a send only passes parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from notification_service.domain import templates as definitions

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
#: Every template the product creates is a utility template (order updates and alerts, never promotions).
CATEGORY = "UTILITY"


@dataclass(frozen=True)
class TemplateText:
    """The wording of one translation at Meta. ``{{1}}``… in ``body`` are the definition's parameters in order."""

    body: str
    header: str | None = None  # a text header without variables
    footer: str | None = None


#: (template name, Meta language code) → wording. A definition sent as a template needs an entry per language.
TEXTS: dict[tuple[str, str], TemplateText] = {
    (definitions.PO_NOTIFICATION, "es"): TemplateText(
        body="Hola {{1}}, has recibido una nueva orden de compra {{2}} por un total de {{3}}."
    ),
    (definitions.PO_NOTIFICATION, "en"): TemplateText(
        body="Hello {{1}}, you have received a new purchase order {{2}} with a total of {{3}}."
    ),
    (definitions.PO_NOTIFICATION_DOCUMENT, "es"): TemplateText(
        body="Hola {{1}}, te enviamos la orden de compra {{2}} por un total de {{3}}. El documento adjunto tiene el "
        "detalle."
    ),
    (definitions.PO_NOTIFICATION_DOCUMENT, "en"): TemplateText(
        body="Hello {{1}}, here is purchase order {{2}} with a total of {{3}}. The attached document has the details."
    ),
    (definitions.INVENTORY_ALERT, "es"): TemplateText(
        body="Alerta de inventario: {{1}} tiene {{2}} en stock, por debajo del mínimo de {{3}}."
    ),
    (definitions.INVENTORY_ALERT, "en"): TemplateText(
        body="Inventory alert: {{1}} has {{2}} in stock, below its minimum of {{3}}."
    ),
    (definitions.PRODUCTION_ALERT, "es"): TemplateText(body="Alerta de producción: el lote {{1}} de {{2}} {{3}}."),
    (definitions.PRODUCTION_ALERT, "en"): TemplateText(body="Production alert: batch {{1}} of {{2}} {{3}}."),
}

#: The label of each quick-reply action per language (what the supplier sees on the button).
BUTTON_LABELS: dict[str, dict[str, str]] = {
    language: dict(zip(definitions.PO_BUTTONS, labels, strict=True))
    for language, labels in definitions.PO_BUTTON_LABELS.items()
}


class SpecError(ValueError):
    """A definition cannot become a valid create request (a missing text, label or sample value)."""


#: the header format of a template whose header is a file (the purchase order's PDF)
DOCUMENT = "DOCUMENT"


@dataclass(frozen=True)
class RequiredTemplate:
    name: str
    language: str  # Meta's language code
    category: str
    components: list[dict[str, Any]]
    #: ``DOCUMENT`` when the header is a file: its example is a handle of Meta's Resumable Upload API, obtained
    #: when the template is submitted (``create_body(header_handle=…)``), so the plan shows the header without it
    media_header: str | None = None

    def create_body(self, header_handle: str | None = None) -> dict[str, Any]:
        """The JSON body of ``POST /<WABA_ID>/message_templates``; a media header needs its ``header_handle``."""
        components = self.components
        if self.media_header is not None:
            if not header_handle:
                raise SpecError(f"template {self.name} has a {self.media_header} header: its example needs a handle")
            components = [
                {**c, "example": {"header_handle": [header_handle]}} if c.get("type") == "HEADER" else c
                for c in components
            ]
        return {
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "parameter_format": "POSITIONAL",
            "components": components,
        }


def placeholders(text: str) -> list[str]:
    found: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        if match.group(1) not in found:
            found.append(match.group(1))
    return found


def build_components(
    text: TemplateText,
    example: list[str],
    buttons: Iterable[str] = (),
    language: str = "",
    media_header: str | None = None,
) -> list[dict[str, Any]]:
    """Meta's creation components for one translation; ``example``: one sample value per body variable;
    ``media_header``: the format of a file header (its example handle is added at submission)."""
    variables = placeholders(text.body)
    if len(variables) != len(example):
        raise SpecError(f"the body has {len(variables)} variables but {len(example)} sample values")
    stripped = text.body.strip()
    if variables and (stripped.startswith("{{") or stripped.endswith("}}")):
        raise SpecError("Meta refuses a body that starts or ends with a variable: add text around it")
    components: list[dict[str, Any]] = []
    if media_header is not None:
        if text.header:
            raise SpecError("a template has one header: a file header leaves no room for a text header")
        components.append({"type": "HEADER", "format": media_header})
    elif text.header:
        if placeholders(text.header):
            raise SpecError("headers here are plain texts: a header variable would need its own example")
        components.append({"type": "HEADER", "format": "TEXT", "text": text.header})
    body: dict[str, Any] = {"type": "BODY", "text": text.body}
    if example:
        body["example"] = {"body_text": [list(example)]}
    components.append(body)
    if text.footer:
        components.append({"type": "FOOTER", "text": text.footer})
    actions = list(buttons)
    if actions:
        labels = BUTTON_LABELS.get(language, {})
        missing = [a for a in actions if a not in labels]
        if missing:
            raise SpecError(f"no button label for {', '.join(missing)} in {language!r}")
        components.append({"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": labels[a]} for a in actions]})
    return components


def spec_for(
    spec: definitions.TemplateSpec, language: str, texts: Mapping[tuple[str, str], TemplateText] = TEXTS
) -> RequiredTemplate:
    """The create request of one definition's translation (``language``: our code)."""
    meta_language = spec.meta_language(language)
    text = texts.get((spec.name, meta_language))
    if text is None:
        raise SpecError(f"no wording for template {spec.name} ({meta_language})")
    example = spec.render(spec.sample_values, language)
    media_header = DOCUMENT if spec.document else None
    return RequiredTemplate(
        name=spec.name,
        language=meta_language,
        category=CATEGORY,
        components=build_components(text, example, spec.buttons, language, media_header),
        media_header=media_header,
    )


@dataclass(frozen=True)
class SpecProblem:
    """A (template, language) the product sends whose create request cannot be built (what to fix in ``error``)."""

    name: str
    language: str
    error: str


def required_templates(
    registry: Mapping[str, definitions.TemplateSpec] | None = None,
    texts: Mapping[tuple[str, str], TemplateText] = TEXTS,
) -> list[RequiredTemplate]:
    """Every (template, language) the product sends as a Meta template, in a stable order. Free-form texts (sent
    only inside the 24-hour window) need nothing at Meta and are left out. Raises :class:`SpecError` for one that
    cannot be built (:func:`required_templates_or_problems` reports them instead)."""
    out: list[RequiredTemplate] = []
    for item in required_templates_or_problems(registry, texts):
        if isinstance(item, SpecProblem):
            raise SpecError(item.error)
        out.append(item)
    return out


def required_templates_or_problems(
    registry: Mapping[str, definitions.TemplateSpec] | None = None,
    texts: Mapping[tuple[str, str], TemplateText] = TEXTS,
) -> list[RequiredTemplate | SpecProblem]:
    """:func:`required_templates`, with a :class:`SpecProblem` in place of each one that cannot be built (the admin's
    plan shows it rather than failing as a whole)."""
    source = definitions.TEMPLATES if registry is None else registry
    out: list[RequiredTemplate | SpecProblem] = []
    for name in sorted(source):
        spec = source[name]
        if spec.free_form:
            continue
        for language in sorted(spec.languages):
            try:
                out.append(spec_for(spec, language, texts))
            except SpecError as exc:
                out.append(SpecProblem(spec.name, spec.languages[language], str(exc)))
    return out
