"""Template rules: checking a send's ``template`` object against the stored template (132000, 132001,
132005, 132012, 132015, 132016, 132018, 100) and checking a creation request (100 / 2388024)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import GraphError
from .state import TEMPLATE_CATEGORIES, SandboxState, Template

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2,4})?$")
MEDIA_TYPES = ("image", "document", "video")
# Meta refuses a text parameter with a line break, a tab or more than 4 consecutive spaces: since v23.0 as
# error 132018 (HTTP 400, permanent), "There was an issue with the parameters in your template", with the
# details "Param text cannot have new-line/tab characters or more than 4 consecutive spaces". Sources: the
# v23.0 changelog and Meta's error-code table (the reference notes on the Cloud API: error table and §6), and
# the error as integrators received it (github.com/netflie/whatsapp-cloud-api/issues/201).
REFUSED_IN_PARAMETER = re.compile(r"[\n\r\t]| {5,}")
PARAMETER_WHITESPACE_DETAILS = "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
MAX_TEMPLATES_PER_WABA = 250


def invalid(details: str) -> GraphError:
    return GraphError(code=100, message="(#100) Invalid parameter", details=details)


def placeholders(text: str) -> list[str]:
    """Distinct placeholder names in order of first appearance."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def _component(template: Template, kind: str) -> dict[str, Any] | None:
    for comp in template.components:
        if str(comp.get("type", "")).upper() == kind:
            return comp
    return None


def _check_parameter(param: Any, where: str) -> str:
    """Validate one send parameter; returns the text it renders to."""
    if not isinstance(param, dict):
        raise invalid(f"{where}: each parameter must be an object")
    ptype = param.get("type")
    if not isinstance(ptype, str) or not ptype:
        raise GraphError(code=131008, details=f"{where}: parameter 'type' is required")
    if ptype == "text":
        text = param.get("text")
        if not isinstance(text, str) or not text.strip():
            raise invalid("Parameter 'text' is mandatory for component parameter type 'text'")
        if REFUSED_IN_PARAMETER.search(text):
            raise GraphError(code=132018, details=PARAMETER_WHITESPACE_DETAILS)
        return text
    if ptype == "currency":
        cur = param.get("currency")
        if (
            not isinstance(cur, dict)
            or not isinstance(cur.get("fallback_value"), str)
            or not isinstance(cur.get("code"), str)
            or not isinstance(cur.get("amount_1000"), int)
        ):
            raise invalid("Parameter 'currency' needs 'fallback_value', 'code' and an integer 'amount_1000'")
        return str(cur["fallback_value"])
    if ptype == "date_time":
        dt = param.get("date_time")
        if not isinstance(dt, dict) or not isinstance(dt.get("fallback_value"), str):
            raise invalid("Parameter 'date_time' needs a 'fallback_value'")
        return str(dt["fallback_value"])
    if ptype in MEDIA_TYPES:
        media = param.get(ptype)
        if not isinstance(media, dict) or not (media.get("link") or media.get("id")):
            raise invalid(f"Parameter '{ptype}' needs a 'link' or an 'id'")
        return ""
    if ptype == "payload":
        if not isinstance(param.get("payload"), str):
            raise invalid("Parameter 'payload' is mandatory for component parameter type 'payload'")
        return ""
    if ptype in ("action", "coupon_code", "location"):
        return ""
    raise invalid(f"Unknown parameter type '{ptype}' in {where}")


def _fill(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass
class CheckedTemplate:
    template: Template
    rendered_body: str


def check_send(state: SandboxState, obj: Any, waba_id: str | None = None) -> CheckedTemplate:
    """Validate a send's ``template`` object against the templates of the sending number's WABA (default: the
    first account's). Raises :class:`GraphError` like Meta would."""
    if not isinstance(obj, dict):
        raise GraphError(code=100, message="(#100) The parameter template is required.")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise GraphError(code=100, message="(#100) The parameter template['name'] is required.")
    language = obj.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not code:
        raise GraphError(code=100, message="(#100) The parameter template['language']['code'] is required.")

    template = state.find_template(name, code, waba_id)
    if template is None or template.status not in ("APPROVED", "PAUSED", "DISABLED", "REINSTATED"):
        raise GraphError(
            code=132001,
            details=f"template name ({name}) does not exist in {code}",
        )
    if template.status == "PAUSED":
        raise GraphError(
            code=132015,
            details=f"Template {name} ({code}) is paused because of low quality; it cannot be sent.",
        )
    if template.status == "DISABLED":
        raise GraphError(
            code=132016,
            details=f"Template {name} ({code}) has been disabled and can no longer be sent.",
        )

    components = obj.get("components", [])
    if not isinstance(components, list):
        raise invalid("template['components'] must be an array")

    sent: dict[str, list[dict[str, Any]]] = {"header": [], "body": []}
    rendered: dict[str, list[str]] = {"header": [], "body": []}
    template_buttons = (_component(template, "BUTTONS") or {}).get("buttons", [])
    for comp in components:
        if not isinstance(comp, dict):
            raise invalid("each template component must be an object")
        ctype = str(comp.get("type", "")).lower()
        params = comp.get("parameters", [])
        if not isinstance(params, list):
            raise invalid(f"{ctype}: 'parameters' must be an array")
        if ctype in ("header", "body"):
            for param in params:
                rendered[ctype].append(_check_parameter(param, ctype))
            sent[ctype].extend(params)
        elif ctype == "button":
            try:
                index = int(comp.get("index", -1))
            except (TypeError, ValueError):
                index = -1
            if index < 0 or index >= len(template_buttons):
                raise invalid(f"Button at index {comp.get('index')} does not exist in template {name}")
            for param in params:
                _check_parameter(param, f"button at index {index}")
        else:
            raise invalid(f"Invalid component type '{comp.get('type')}'")

    from .media import check_header_media  # media → graph → templates

    check_header_media(state, sent["header"])
    body_text = ""
    for kind in ("header", "body"):
        tcomp = _component(template, kind.upper())
        fmt = str((tcomp or {}).get("format", "TEXT")).upper()
        text = str((tcomp or {}).get("text", "")) if tcomp else ""
        expected_names = placeholders(text) if tcomp and fmt == "TEXT" else []
        expected = len(expected_names) if fmt == "TEXT" else (1 if tcomp else 0)
        got = len(sent[kind])
        if (
            tcomp is not None
            and kind == "header"
            and fmt != "TEXT"
            and got == 1
            and sent[kind][0].get("type") != fmt.lower()
        ):
            raise GraphError(
                code=132012,
                details=f"header: parameter type {sent[kind][0].get('type')} does not match format {fmt}",
            )
        if got != expected:
            raise GraphError(
                code=132000,
                details=(
                    f"{kind}: number of localizable_params ({got}) does not match the expected number of "
                    f"params ({expected})"
                ),
            )
        if template.parameter_format == "NAMED" and expected_names:
            given = [p.get("parameter_name") for p in sent[kind]]
            if sorted(str(g) for g in given) != sorted(expected_names):
                raise GraphError(
                    code=132000,
                    details=(
                        f"{kind}: parameter names ({', '.join(str(g) for g in given)}) do not match the expected "
                        f"names ({', '.join(expected_names)})"
                    ),
                )
        if kind == "body" and tcomp is not None:
            values = dict(zip(expected_names, rendered["body"], strict=False))
            if template.parameter_format == "NAMED":
                values = {str(p.get("parameter_name")): r for p, r in zip(sent["body"], rendered["body"], strict=False)}
            body_text = _fill(text, values)

    limit = 32768 if len(template.components) == 1 else 1024
    if len(body_text) > limit:
        raise GraphError(code=132005, details=f"body: the rendered text has {len(body_text)} characters (max {limit})")
    return CheckedTemplate(template=template, rendered_body=body_text)


def check_create(state: SandboxState, body: Any, waba_id: str | None = None) -> Template:
    """Validate a ``POST /{waba_id}/message_templates`` body and build the (PENDING) template of that WABA
    (default: the first account's)."""
    waba_id = waba_id or state.waba_id
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise invalid("name: use only lowercase letters, digits and underscores (max 512 characters)")
    language = body.get("language")
    if not isinstance(language, str) or not LANGUAGE_RE.match(language):
        raise invalid(f"language: '{language}' is not a valid language code")
    category = str(body.get("category", "")).upper()
    if category not in TEMPLATE_CATEGORIES:
        raise invalid(f"category: '{body.get('category')}' is not one of {', '.join(TEMPLATE_CATEGORIES)}")
    components = body.get("components")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise invalid("components: must be an array of objects")
    bodies = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
    if len(bodies) != 1 or not isinstance(bodies[0].get("text"), str) or not bodies[0]["text"].strip():
        raise invalid("components: exactly one BODY component with a text is required")
    parameter_format = str(body.get("parameter_format", "POSITIONAL")).upper()
    if parameter_format not in ("POSITIONAL", "NAMED"):
        raise invalid("parameter_format: must be POSITIONAL or NAMED")
    check_create_components(components, parameter_format)
    check_header_handles(state, components)
    if state.find_template(name, language, waba_id) is not None:
        raise GraphError(
            code=100,
            message="(#100) Invalid parameter",
            subcode=2388024,
            details=f"Content in this language already exists for template {name} ({language}).",
            extra={
                "is_transient": False,
                "error_user_title": "Content in This Language Already Exists",
                "error_user_msg": (
                    f"There is already {language} content for this template. Create a new template and try again."
                ),
            },
        )
    live = [t for t in state.templates.values() if t.status != "DELETED" and t.waba_id == waba_id]
    if len(live) >= MAX_TEMPLATES_PER_WABA:
        raise GraphError(
            code=100,
            subcode=2388019,
            details=f"The WhatsApp Business Account already has {MAX_TEMPLATES_PER_WABA} message templates.",
        )
    normalized = []
    for comp in components:
        copy = dict(comp)
        copy["type"] = str(comp.get("type", "")).upper()
        normalized.append(copy)
    return Template(
        id=state.new_template_id(),
        name=name,
        language=language,
        status="PENDING",
        category=category,
        components=normalized,
        parameter_format=parameter_format,
        waba_id=waba_id,
    )


# ---------------------------------------------------------------------------------------------- creation rules
# Meta's "Create and manage templates" and "Message Template API" reference pages (developers.facebook.com/docs/
# whatsapp/business-management-api/message-templates, read 2026-12): component types and limits (header and
# footer 60 characters, body 1024, up to 10 buttons, a quick reply's label 25); a component with a variable needs
# its sample values (error 100, subcode 2388043: "component of type BODY is missing expected field(s) (example)",
# the text integrators report); a body may not start or end with a variable (subcode 2388299); too long a text
# is subcode 2388040.
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS", "CAROUSEL", "LIMITED_TIME_OFFER")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM")
TEXT_LIMITS = {"HEADER": 60, "BODY": 1024, "FOOTER": 60}
MAX_BUTTONS = 10
MAX_BUTTON_LABEL = 25


def missing_example(kind: str) -> GraphError:
    return GraphError(
        code=100,
        message="(#100) Invalid parameter",
        subcode=2388043,
        details=f"component of type {kind} is missing expected field(s) (example)",
        extra={
            "is_transient": False,
            "error_user_title": 'Message template "components" param is missing expected field(s)',
            "error_user_msg": f"component of type {kind} is missing expected field(s) (example)",
        },
    )


def _too_long(kind: str, limit: int) -> GraphError:
    return GraphError(
        code=100,
        message="(#100) Invalid parameter",
        subcode=2388040,
        details=f"{kind}: the text is longer than {limit} characters",
        extra={"is_transient": False, "error_user_title": "Character limit exceeded"},
    )


def _check_variables(kind: str, text: str, comp: dict[str, Any], parameter_format: str) -> None:
    names = placeholders(text)
    if not names:
        return
    example = comp.get("example")
    if parameter_format == "POSITIONAL" and names != [str(i) for i in range(1, len(names) + 1)]:
        raise invalid(f"{kind}: positional variables must be {{{{1}}}}, {{{{2}}}}, … in order")
    if kind == "BODY":
        stripped = text.strip()
        if stripped.startswith("{{") or stripped.endswith("}}"):
            raise GraphError(
                code=100,
                message="(#100) Invalid parameter",
                subcode=2388299,
                details="Variables can't be at the start or end of the template.",
                extra={"is_transient": False, "error_user_title": "Variables can't be at the start or end"},
            )
    key = {"BODY": "body_text", "HEADER": "header_text"}[kind]
    if parameter_format == "NAMED":
        given = (example or {}).get(f"{key}_named_params") if isinstance(example, dict) else None
        if not given:
            raise missing_example(kind)
        named = {p.get("param_name") for p in given if isinstance(p, dict) and str(p.get("example") or "").strip()}
        if not set(names) <= named:
            raise invalid(f"{kind}: example.{key}_named_params needs an example for each of {', '.join(names)}")
        return
    values = (example or {}).get(key) if isinstance(example, dict) else None
    if not values:
        raise missing_example(kind)
    sample = values[0] if kind == "BODY" and isinstance(values, list) and values else values
    if (
        not isinstance(sample, list)
        or len(sample) != len(names)
        or not all(isinstance(v, str) and v.strip() for v in sample)
    ):
        shape = "[[…]] (one list of strings)" if kind == "BODY" else "[…]"
        raise invalid(f"{kind}: example.{key} must be {shape} with one non-empty value per variable ({len(names)})")


def check_create_components(components: list[dict[str, Any]], parameter_format: str) -> None:
    """The components of a creation request, as Meta checks them (raises :class:`GraphError`)."""
    seen: set[str] = set()
    for comp in components:
        kind = str(comp.get("type", "")).upper()
        if kind not in COMPONENT_TYPES:
            raise invalid(f"components: unknown component type '{comp.get('type')}'")
        if kind in seen:
            raise invalid(f"components: only one {kind} component is allowed")
        seen.add(kind)
        text = comp.get("text")
        if kind in TEXT_LIMITS and text is not None and not isinstance(text, str):
            raise invalid(f"{kind}: 'text' must be a string")
        if isinstance(text, str) and kind in TEXT_LIMITS and len(text) > TEXT_LIMITS[kind]:
            raise _too_long(kind, TEXT_LIMITS[kind])
        if kind == "BODY":
            _check_variables(kind, str(text), comp, parameter_format)
        elif kind == "HEADER":
            fmt = str(comp.get("format", "")).upper()
            if fmt not in HEADER_FORMATS:
                raise invalid(f"HEADER: format must be one of {', '.join(HEADER_FORMATS)}")
            if fmt == "TEXT":
                if not isinstance(text, str) or not text.strip():
                    raise invalid("HEADER: a TEXT header needs a text")
                if len(placeholders(text)) > 1:
                    raise invalid("HEADER: a text header may have one variable at most")
                _check_variables(kind, text, comp, parameter_format)
            elif fmt != "LOCATION":
                example = comp.get("example")
                if not isinstance(example, dict) or not example.get("header_handle"):
                    raise missing_example(kind)
        elif kind == "FOOTER":
            if not isinstance(text, str) or not text.strip():
                raise invalid("FOOTER: a footer needs a text")
            if placeholders(text):
                raise invalid("FOOTER: a footer cannot have variables")
        elif kind == "BUTTONS":
            buttons = comp.get("buttons")
            if not isinstance(buttons, list) or not buttons or len(buttons) > MAX_BUTTONS:
                raise invalid(f"BUTTONS: 'buttons' must be an array of 1 to {MAX_BUTTONS} buttons")
            for button in buttons:
                if not isinstance(button, dict) or str(button.get("type", "")).upper() not in BUTTON_TYPES:
                    raise invalid(f"BUTTONS: each button needs a type, one of {', '.join(BUTTON_TYPES)}")
                btype = str(button["type"]).upper()
                label = button.get("text")
                if btype in ("QUICK_REPLY", "URL", "PHONE_NUMBER") and (
                    not isinstance(label, str) or not label.strip() or len(label) > MAX_BUTTON_LABEL
                ):
                    raise invalid(f"BUTTONS: a {btype} button needs a text of 1 to {MAX_BUTTON_LABEL} characters")
                if btype == "URL" and placeholders(str(button.get("url", ""))) and not button.get("example"):
                    raise missing_example(kind)


# ---------------------------------------------------------------------------------------------- media header samples
#: the file types of the Resumable Upload API a media header's sample may be, per header format
HANDLE_TYPES = {
    "DOCUMENT": ("application/pdf",),
    "IMAGE": ("image/jpeg", "image/jpg", "image/png"),
    "VIDEO": ("video/mp4",),
}


def missing_sample(fmt: str, details: str) -> GraphError:
    """Meta's refusal of a media header whose ``example.header_handle`` is not a handle of its Resumable Upload API
    (a URL, a media id, a made-up string): code 100, subcode 2388273, as integrators report it."""
    return GraphError(
        code=100,
        message="(#100) Invalid parameter",
        subcode=2388273,
        details=details,
        extra={
            "is_transient": False,
            "error_user_title": "Missing sample media",
            "error_user_msg": f"Templates with {fmt} header type need an example/sample, but it was not provided",
        },
    )


def check_header_handles(state: SandboxState, components: list[dict[str, Any]]) -> None:
    """A DOCUMENT / IMAGE / VIDEO header's ``example.header_handle`` must name a completed upload of this sandbox's
    Resumable Upload API (``POST /<APP_ID>/uploads``), of a file type that fits the format."""
    for comp in components:
        fmt = str(comp.get("format", "")).upper()
        if str(comp.get("type", "")).upper() != "HEADER" or fmt not in HANDLE_TYPES:
            continue
        example = comp.get("example")
        handles = example.get("header_handle") if isinstance(example, dict) else None
        if not isinstance(handles, list) or not handles or not isinstance(handles[0], str):
            raise missing_sample(fmt, "example.header_handle must be a list with the handle of an uploaded file")
        upload = state.upload_handles.get(handles[0])
        if upload is None:
            raise missing_sample(
                fmt,
                f"header_handle {handles[0][:80]!r} is not a handle of the Resumable Upload API "
                "(POST /<APP_ID>/uploads, then POST /upload:<ID>)",
            )
        if upload.file_type not in HANDLE_TYPES[fmt]:
            wanted = " or ".join(HANDLE_TYPES[fmt])
            raise missing_sample(fmt, f"a {fmt} header needs a {wanted} sample, not {upload.file_type}")
