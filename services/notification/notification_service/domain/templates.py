"""The template registry: which templates exist, in which languages, and how values become parameters.

This is the only place that knows template names, language codes and the order of body parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import format_currency, format_decimal

PO_NOTIFICATION = "po_notification"
#: the purchase order with its PDF in a DOCUMENT header (issue 17): an event with lines; same body and buttons
PO_NOTIFICATION_DOCUMENT = "po_notification_document"
#: Our free-form answer to a supplier's tap (not a Meta template: a text, sent only inside the 24-hour window)
SUPPLIER_ACK = "supplier_ack"
#: The bakery's own staff: a product under its minimum stock; a production batch late or failed (issue 17)
INVENTORY_ALERT = "inventory_alert"
PRODUCTION_ALERT = "production_alert"
FALLBACK_LANGUAGE = "es"

#: The actions of the purchase-order template's quick-reply buttons, in the template's button order (index 0, 1).
#: Their labels are part of the template at Meta, one per translation (the sandbox's seed has them).
PO_BUTTONS = ("confirm", "reject")
#: The button labels of each translation of ``po_notification`` (what the supplier sees; kept in the template at
#: Meta and in the sandbox's seed: this table is the reference for both and for the docs).
PO_BUTTON_LABELS: dict[str, tuple[str, str]] = {"es": ("Confirmar", "Rechazar"), "en": ("Confirm", "Reject")}


def format_amount(amount: Decimal | str, currency: str, language: str) -> str:
    """A total as people read it in ``language``: es "1.250,00 €", en "€1,250.00".

    Babel's non-breaking spaces become plain spaces (what suppliers type and what tests compare). Cached: Babel
    takes ~0.1 ms a call and a bakery's totals repeat (issue 14).
    """
    return _format_amount(str(amount), currency, language)


@lru_cache(maxsize=4096)
def _format_amount(amount: str, currency: str, language: str) -> str:
    text = str(format_currency(Decimal(amount), currency, locale=language))
    return text.replace("\xa0", " ").replace("\u202f", " ")


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    #: our language → the template translation's code at Meta (must match exactly, or Meta answers 132001)
    languages: Mapping[str, str]
    render: Callable[[Mapping[str, Any], str], list[str]]
    sample_values: Mapping[str, Any]
    #: the action of each quick-reply button, in the template's button order (each gets a signed payload)
    buttons: tuple[str, ...] = ()
    #: not a Meta template: one free-form text (``render`` gives ``[text]``), sent only inside the 24-hour window
    free_form: bool = False
    #: the template has a DOCUMENT header: the purchase order's PDF (domain/po_document.py), uploaded before the send
    document: bool = False

    def meta_language(self, language: str) -> str:
        return self.languages[language]


def _render_po(values: Mapping[str, Any], language: str) -> list[str]:
    return [
        str(values["supplier_name"]),
        str(values["po_number"]),
        format_amount(values["total_amount"], str(values["currency"]), language),
    ]


_ACK_TEXTS = {
    "es": {
        "confirmed": "Gracias, hemos recibido su confirmación del pedido {po}.",
        "rejected": "Gracias, hemos recibido su rechazo del pedido {po}.",
    },
    "en": {
        "confirmed": "Thanks, we have your confirmation of order {po}.",
        "rejected": "Thanks, we have noted that you reject order {po}.",
    },
}


def _render_ack(values: Mapping[str, Any], language: str) -> list[str]:
    return [_ACK_TEXTS[language][str(values["decision"])].format(po=str(values["po_number"]))]


_PROBLEM_WORDS = {
    "es": {"late": "va con retraso", "failed": "ha fallado"},
    "en": {"late": "is late", "failed": "failed"},
}


def format_quantity(quantity: Decimal | str, unit: str, language: str) -> str:
    """A stock quantity as people read it in ``language``: es "2,5 kg", en "2.5 kg"."""
    text = str(format_decimal(Decimal(str(quantity)), locale=language)).replace("\xa0", " ")
    return f"{text} {unit}".strip()


def _render_inventory(values: Mapping[str, Any], language: str) -> list[str]:
    unit = str(values.get("unit") or "")
    return [
        str(values["product_name"]),
        format_quantity(values["current_stock"], unit, language),
        format_quantity(values["minimum_stock"], unit, language),
    ]


def _render_production(values: Mapping[str, Any], language: str) -> list[str]:
    return [str(values["batch_number"]), str(values["product_name"]), _PROBLEM_WORDS[language][str(values["problem"])]]


TEMPLATES: dict[str, TemplateSpec] = {
    PO_NOTIFICATION: TemplateSpec(
        name=PO_NOTIFICATION,
        languages={"es": "es", "en": "en"},
        render=_render_po,
        sample_values={
            "supplier_name": "Proveedor de prueba",
            "po_number": "PO-TEST-0001",
            "total_amount": "125.50",
            "currency": "EUR",
        },
        buttons=PO_BUTTONS,
    ),
    PO_NOTIFICATION_DOCUMENT: TemplateSpec(
        name=PO_NOTIFICATION_DOCUMENT,
        languages={"es": "es", "en": "en"},
        render=_render_po,
        sample_values={
            "supplier_name": "Proveedor de prueba",
            "po_number": "PO-TEST-0001",
            "total_amount": "125.50",
            "currency": "EUR",
        },
        buttons=PO_BUTTONS,
        document=True,
    ),
    SUPPLIER_ACK: TemplateSpec(
        name=SUPPLIER_ACK,
        languages={"es": "es", "en": "en"},
        render=_render_ack,
        sample_values={"decision": "confirmed", "po_number": "PO-TEST-0001"},
        free_form=True,
    ),
    INVENTORY_ALERT: TemplateSpec(
        name=INVENTORY_ALERT,
        languages={"es": "es", "en": "en"},
        render=_render_inventory,
        sample_values={"product_name": "Harina de trigo", "current_stock": "12.5", "minimum_stock": "50", "unit": "kg"},
    ),
    PRODUCTION_ALERT: TemplateSpec(
        name=PRODUCTION_ALERT,
        languages={"es": "es", "en": "en"},
        render=_render_production,
        sample_values={"batch_number": "LOTE-0007", "product_name": "Baguette", "problem": "late"},
    ),
}


def get_template(name: str) -> TemplateSpec:
    return TEMPLATES[name]


def normalize_language(code: str | None) -> str | None:
    """ "es-ES", "es_ES", "ES" → "es"; None/blank → None."""
    if not code or not code.strip():
        return None
    return code.strip().replace("-", "_").split("_")[0].lower()


def choose_language(spec: TemplateSpec, supplier_language: str | None, tenant_default: str | None) -> str:
    """The supplier's language if the template has it, else the tenant's default, else Spanish."""
    for candidate in (normalize_language(supplier_language), normalize_language(tenant_default)):
        if candidate and candidate in spec.languages:
            return candidate
    return FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in spec.languages else next(iter(spec.languages))


@dataclass(frozen=True)
class RenderedTemplate:
    name: str
    language: str  # our code, also the Meta code for the registry above
    meta_language: str
    parameters: list[str]  # body parameters; for a free-form text, ``[text]``
    buttons: tuple[str, ...] = ()  # the quick-reply buttons' actions, in order
    free_form: bool = False
    document: bool = False  # a DOCUMENT header: the purchase order's PDF


def render(
    template_name: str, values: Mapping[str, Any], supplier_language: str | None, tenant_default: str | None
) -> RenderedTemplate:
    spec = get_template(template_name)
    language = choose_language(spec, supplier_language, tenant_default)
    return RenderedTemplate(
        name=spec.name,
        language=language,
        meta_language=spec.meta_language(language),
        parameters=spec.render(values, language),
        buttons=spec.buttons,
        free_form=spec.free_form,
        document=spec.document,
    )
