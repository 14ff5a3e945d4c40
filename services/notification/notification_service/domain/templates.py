"""The template registry: which templates exist, in which languages, and how values become parameters.

This is the only place that knows template names, language codes and the order of body parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import format_currency

PO_NOTIFICATION = "po_notification"
FALLBACK_LANGUAGE = "es"


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

    def meta_language(self, language: str) -> str:
        return self.languages[language]


def _render_po(values: Mapping[str, Any], language: str) -> list[str]:
    return [
        str(values["supplier_name"]),
        str(values["po_number"]),
        format_amount(values["total_amount"], str(values["currency"]), language),
    ]


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
    parameters: list[str]


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
    )
