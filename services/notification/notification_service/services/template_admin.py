"""The admin manages the WABA's templates from here: ``plan`` (what the product needs at Meta against what the
WABA has) and ``submit`` (create the missing ones through the one Graph client; idempotent).

Reads the WABA with the sync's own call (:meth:`GraphClient.list_templates`); the product's needs come from
:func:`notification_service.domain.template_specs.required_templates`. A creation is recorded as the template's
status at the account it was created at (PENDING: that account's messages of it wait; issue 18) in the same way as
the sync records it; Meta's review result arrives later with that account's ``message_template_status_update``
webhook (or the next sync).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import NotFound, ServiceUnavailable, UpstreamError
from bakery_shared.graph import GraphClient, GraphClientError, GraphError
from bakery_shared.logging import redact
from notification_service.accounts import Accounts
from notification_service.api.schemas_templates import (
    ExtraTemplateOut,
    PlanItemOut,
    PlanOut,
    SubmitItemOut,
    SubmitOut,
    WabaTemplateOut,
)
from notification_service.config import NotificationSettings
from notification_service.domain import po_document
from notification_service.domain import templates as definitions
from notification_service.domain.decisions import MASTER_ACCOUNT_KEY
from notification_service.domain.template_specs import (
    RequiredTemplate,
    SpecProblem,
    required_templates_or_problems,
)
from notification_service.services import whatsapp_state as state_service

log = logging.getLogger("notification.whatsapp.templates")


@dataclass(frozen=True)
class Target:
    """The WABA whose templates are planned or submitted, and the Graph client speaking with its token."""

    waba_id: str
    graph: GraphClient
    #: the key of the account's template state (issue 18): ``master`` for the environment's account, else its WABA
    #: id; a creation is recorded there (PENDING: that account's messages of it wait, the others' do not)
    account_key: str = MASTER_ACCOUNT_KEY


async def target(settings: NotificationSettings, accounts: Accounts, waba_id: str | None = None) -> Target:
    """The environment's account, or the active account ``waba_id`` names (404 when there is none)."""
    if not waba_id or waba_id == accounts.environment_waba:
        missing = settings.missing_master_account_variables()
        if missing:
            raise ServiceUnavailable(
                f"The WhatsApp master account is not configured: set {', '.join(missing)}", code="not_configured"
            )
        return Target(str(settings.whatsapp_business_account_id), accounts.graph)
    account = await accounts.find(waba_id)
    if account is None or account.status != "active":
        raise NotFound(
            f"No active WhatsApp account {waba_id}: GET /api/v1/admin/whatsapp/accounts (tenant service) lists them",
            code="account_not_found",
        )
    try:
        graph = accounts.graph_for(account.token_ref)
    except GraphClientError as exc:
        raise ServiceUnavailable(f"Account {waba_id}: {exc}", code="not_configured") from exc
    return Target(account.waba_id, graph, accounts.key_for(account.waba_id))


async def _waba_templates(graph: GraphClient, waba_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        items = await graph.list_templates(waba_id)
    except GraphClientError as exc:
        raise UpstreamError(f"Could not read the WABA's templates: {exc}", code="graph_error") from exc
    return {(str(t.get("name")), str(t.get("language"))): t for t in items if t.get("name")}


def _plan_item(required: RequiredTemplate | SpecProblem, existing: dict[str, Any] | None) -> PlanItemOut:
    if isinstance(required, SpecProblem):
        waba_now = None
        if existing is not None:
            waba_now = WabaTemplateOut(
                id=existing.get("id"), status=str(existing.get("status") or ""), category=existing.get("category")
            )
        return PlanItemOut(
            name=required.name,
            language=required.language,
            category="",
            components=[],
            state="unbuildable",
            waba=waba_now,
            error=required.error,
        )
    waba = None
    state: Literal["missing", "present", "differs"] = "missing"
    if existing is not None:
        category = str(existing.get("category") or "").upper() or None
        waba = WabaTemplateOut(id=existing.get("id"), status=str(existing.get("status") or ""), category=category)
        state = "present" if category == required.category else "differs"
    return PlanItemOut(
        name=required.name,
        language=required.language,
        category=required.category,
        components=required.components,
        state=state,
        waba=waba,
    )


async def plan(at: Target) -> PlanOut:
    waba_id = at.waba_id
    have = await _waba_templates(at.graph, waba_id)
    needed = required_templates_or_problems()
    keys = {(r.name, r.language) for r in needed}
    extra = [
        ExtraTemplateOut(name=n, language=lang, status=str(t.get("status") or ""), category=t.get("category"))
        for (n, lang), t in sorted(have.items())
        if (n, lang) not in keys
    ]
    return PlanOut(
        waba_id=waba_id, templates=[_plan_item(r, have.get((r.name, r.language))) for r in needed], extra=extra
    )


def _refused(required: RequiredTemplate, exc: GraphClientError) -> SubmitItemOut:
    if isinstance(exc, GraphError):
        error = (exc.raw.get("error") or {}) if isinstance(exc.raw, dict) else {}
        parts = [exc.title]
        for extra in (exc.details, error.get("error_user_title"), error.get("error_user_msg")):
            if extra and extra not in parts:
                parts.append(str(extra))
        return SubmitItemOut(
            name=required.name,
            language=required.language,
            result="refused",
            error_code=exc.code,
            error_subcode=exc.error_subcode,
            error=redact(": ".join(p for p in parts if p))[:1000],
        )
    return SubmitItemOut(name=required.name, language=required.language, result="refused", error=str(exc)[:1000])


async def _header_handle(settings: NotificationSettings, graph: GraphClient, required: RequiredTemplate) -> str:
    """The example of a DOCUMENT header: a sample purchase order in the template's language, uploaded with Meta's
    Resumable Upload API (``POST /<APP_ID>/uploads``); Meta keeps the file with the template for its review."""
    spec = definitions.TEMPLATES[required.name]
    language = next((ours for ours, meta in spec.languages.items() if meta == required.language), required.language)
    content = po_document.sample_pdf(spec.sample_values, language)
    name = po_document.filename(str(spec.sample_values.get("po_number") or "sample"))
    return await graph.upload_header_handle(
        settings.whatsapp_app_id, content=content, mime_type=po_document.MIME_TYPE, filename=name
    )


async def submit(settings: NotificationSettings, at: Target, sessions: async_sessionmaker[AsyncSession]) -> SubmitOut:
    """Create every required template the WABA lacks; one already there (any status) is skipped."""
    waba_id, graph = at.waba_id, at.graph
    have = await _waba_templates(graph, waba_id)
    results: list[SubmitItemOut] = []
    for required in required_templates_or_problems():
        if isinstance(required, SpecProblem):
            log.error("template %s (%s) cannot be built: %s", required.name, required.language, required.error)
            results.append(
                SubmitItemOut(
                    name=required.name, language=required.language, result="unbuildable", error=required.error
                )
            )
            continue
        existing = have.get((required.name, required.language))
        if existing is not None:
            results.append(
                SubmitItemOut(
                    name=required.name,
                    language=required.language,
                    result="skipped",
                    id=existing.get("id"),
                    status=existing.get("status"),
                    category=existing.get("category"),
                )
            )
            continue
        try:
            handle = await _header_handle(settings, graph, required) if required.media_header else None
            answer = await graph.create_template(waba_id, required.create_body(header_handle=handle))
        except GraphClientError as exc:
            item = _refused(required, exc)
            log.warning("template %s (%s) refused: %s", required.name, required.language, item.error)
            results.append(item)
            continue
        status = str(answer.get("status") or "PENDING").upper()
        category = str(answer.get("category") or required.category).upper()
        template_id = str(answer.get("id") or "") or None
        async with transaction(sessions) as session:
            await state_service.apply_template(
                session,
                name=required.name,
                language=required.language,
                status=status,
                category=category,
                reason=None,
                template_id=template_id,
                now=utcnow(),
                account_key=at.account_key,
            )
        log.info("template %s (%s) submitted at %s: %s", required.name, required.language, waba_id, status)
        results.append(
            SubmitItemOut(
                name=required.name,
                language=required.language,
                result="created",
                id=template_id,
                status=status,
                category=category,
            )
        )
    kinds = ("created", "skipped", "refused", "unbuildable")
    counts = {kind: sum(1 for r in results if r.result == kind) for kind in kinds}
    return SubmitOut(waba_id=waba_id, results=results, **counts)
