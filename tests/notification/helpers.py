"""Fakes at the service's edges: the Graph API (respx routes) and the tenant service's internal endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import respx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from bakery_shared.auth import Role, issue_token
from bakery_shared.graph_versions import DEFAULT_GRAPH_API_VERSION
from bakery_shared.settings import DEV_JWT_SECRET
from notification_service.api.events import LeanIngestRoute
from notification_service.config import NotificationSettings

GRAPH_URL = "http://graph.test"
TENANT_URL = "http://tenant.test"
API_VERSION = DEFAULT_GRAPH_API_VERSION
TOKEN = "master-access-token"
WABA_ID = "100000000000001"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"


def make_settings(database_url: str, **overrides: Any) -> NotificationSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "notification_database_url": database_url,
        "tenant_service_url": TENANT_URL,
        "whatsapp_graph_url": GRAPH_URL,
        "whatsapp_api_version": API_VERSION,
        "whatsapp_business_account_id": WABA_ID,
        "whatsapp_access_token": TOKEN,
        "whatsapp_phone_number_id": "999999999999999",  # the platform's own number: must never be used
        "jwt_secret": DEV_JWT_SECRET,
        "dispatcher_enabled": False,
        "outbound_delivery_enabled": False,  # tests drive OutboundDelivery themselves (or turn it on)
        "dispatch_listen_notify": False,
        "enable_whatsapp_notifications": True,
        "rate_per_number_per_second": 80,
        "recipient_min_interval_seconds": 0,
        "tenant_daily_new_recipient_cap": 0,
        "retry_base_seconds": 1,
        "ambiguous_grace_seconds": 30,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_app_id": "100000000000099",  # the sandbox's app id (Resumable Upload API)
        "whatsapp_webhook_verify_token": VERIFY_TOKEN,
        "whatsapp_sync_enabled": False,
        "whatsapp_sync_min_interval_seconds": 0,
    }
    values.update(overrides)
    return NotificationSettings(_env_file=None, **values)  # type: ignore[call-arg]


def token(settings: NotificationSettings, role: str, tenant_id: uuid.UUID | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, role=Role(role), tenant_id=tenant_id)}"}


# ---------------------------------------------------------------- tenant service


@dataclass
class FakeTenantService:
    """``GET /internal/v1/tenants/{id}/notification-settings`` with ETag / 304, a service JWT check and a switch."""

    tenants: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    requests: int = 0
    not_modified: int = 0
    delay: float = 0.0  # seconds each answer takes (a slow tenant service)
    #: ``GET /internal/v1/whatsapp/accounts`` (issue 18): None answers 404 (a tenant service from before accounts)
    accounts: list[dict[str, Any]] | None = None
    accounts_requests: int = 0

    def add(
        self,
        *,
        whatsapp_enabled: bool = True,
        phone_number_id: str = "200000000000001",
        default_language: str = "es",
        enable_po_notifications: bool = True,
        tenant_id: uuid.UUID | None = None,
        name: str = "Panadería Sol",
        account: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        """A bakery; ``account``: the account of its number (an entry of :attr:`accounts`), else none named."""
        tenant_id = tenant_id or uuid.uuid4()
        self.tenants[tenant_id] = {
            "tenant_id": str(tenant_id),
            "tenant_name": name,
            "whatsapp_enabled": whatsapp_enabled,
            "whatsapp_phone_number_id": phone_number_id,
            "whatsapp_display_phone_number": "+34 612 345 678" if phone_number_id else "",
            "whatsapp_default_language": default_language,
            "enable_po_notifications": enable_po_notifications,
        }
        if account is not None:
            self.tenants[tenant_id] |= {
                "waba_id": account["waba_id"],
                "token_ref": account["token_ref"],
                "portfolio_id": account.get("portfolio_id") or account["waba_id"],
                "account_kind": account.get("kind", "platform"),
            }
        return tenant_id

    def add_account(
        self,
        waba_id: str,
        token_ref: str,
        *,
        kind: str = "platform",
        portfolio_id: str | None = None,
        daily_limit: int | None = None,
        status: str = "active",
        source: str = "database",
    ) -> dict[str, Any]:
        """An account as the tenant service lists it (the environment's is listed first when added first)."""
        account = {
            "waba_id": waba_id,
            "display_name": f"Account {waba_id}",
            "kind": kind,
            "token_ref": token_ref,
            "portfolio_id": portfolio_id or waba_id,
            "tenant_id": None,
            "max_numbers": 20,
            "daily_limit": daily_limit,
            "status": status,
            "source": source,
        }
        self.accounts = [*(self.accounts or []), account]
        return account

    def accounts_handler(self, request: httpx.Request) -> httpx.Response:
        self.accounts_requests += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.accounts is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json={"accounts": self.accounts})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        auth = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), DEV_JWT_SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            return httpx.Response(401, json={"detail": "bad token", "code": "invalid_token"})
        if claims.get("role") != "service":
            return httpx.Response(403, json={"detail": "service only", "code": "wrong_role"})
        tenant_id = uuid.UUID(request.url.path.split("/")[4])
        data = self.tenants.get(tenant_id)
        if data is None:
            return httpx.Response(404, json={"detail": "No such tenant", "code": "not_found"})
        body = json.dumps(data, sort_keys=True)
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, content=body, headers={"ETag": etag, "Content-Type": "application/json"})

    async def slow_handler(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.handler(request)

    def transport(self) -> httpx.MockTransport:
        router = respx.Router(base_url=TENANT_URL, assert_all_mocked=True)
        router.get(path__regex=r"^/internal/v1/tenants/[^/]+/notification-settings$").mock(
            side_effect=self.slow_handler
        )
        router.get("/internal/v1/whatsapp/accounts").mock(side_effect=self.accounts_handler)
        return httpx.MockTransport(router.async_handler)


# ---------------------------------------------------------------- Graph API


def graph_error(code: int, message: str, http_status: int = 400, details: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return httpx.Response(http_status, json={"error": error})


Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeGraph:
    """Graph API edge via a respx router. ``script`` is consumed one entry per send; empty = accepted."""

    valid_tokens: set[str] = field(default_factory=lambda: {TOKEN})
    script: list[httpx.Response | Exception | Responder] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds each send takes (slow Meta)
    #: phone numbers of the WABA (``GET /{waba}/phone_numbers``, ``GET /{id}``), by id
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: templates of the WABA (``GET /{waba}/message_templates``)
    templates: list[dict[str, Any]] = field(default_factory=list)
    #: Meta's pricing analytics (``GET /{waba}?fields=pricing_analytics…``): its ``data_points``
    pricing_points: list[dict[str, Any]] = field(default_factory=list)
    management_calls: list[str] = field(default_factory=list)
    #: the numbers of each WABA when several accounts are tested (issue 18); absent: every number is the WABA's
    numbers_by_waba: dict[str, list[str]] = field(default_factory=dict)
    #: (number, token) of each media upload (``POST /{id}/media``)
    uploads: list[tuple[str, str]] = field(default_factory=list)
    #: the token of each ``GET /{id}`` read (probes), in order
    probe_tokens: list[str] = field(default_factory=list)
    #: (WABA id, kind, token) of each list call: which account was read with which token
    list_calls: list[tuple[str, str, str]] = field(default_factory=list)
    #: the templates of each WABA when several accounts are tested (issue 18); absent: :attr:`templates`
    templates_by_waba: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (WABA id, token, body) of each ``POST /{waba}/message_templates`` (answered PENDING, added to its templates)
    created_templates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _auth_error(self, request: httpx.Request) -> httpx.Response | None:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_tokens:
            return graph_error(190, "Error validating access token: Session has expired", 401)
        return None

    def send_handler(self, request: httpx.Request, pnid: str) -> httpx.Response:
        payload = json.loads(request.content)
        with self._lock:
            self.sends.append(
                {
                    "phone_number_id": pnid,
                    "payload": payload,
                    "at": datetime.now(UTC),
                    "token": request.headers.get("Authorization", "").removeprefix("Bearer "),
                }
            )
            step = self.script.pop(0) if self.script else None
        if step is not None:
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                return step
            return step(request)
        auth_error = self._auth_error(request)
        if auth_error is not None:
            return auth_error
        wamid = f"wamid.TEST{next(self._ids):06d}"
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": payload["to"], "wa_id": payload["to"].lstrip("+")}],
                "messages": [{"id": wamid}],
            },
        )

    def phone_handler(self, request: httpx.Request, pnid: str) -> httpx.Response:
        auth_error = self._auth_error(request)
        if request.url.params.get("fields", "").startswith("pricing_analytics"):
            return auth_error or httpx.Response(
                200, json={"pricing_analytics": {"data": [{"data_points": self.pricing_points}]}, "id": pnid}
            )
        self.probes.append(pnid)
        self.probe_tokens.append(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if auth_error is not None:
            return auth_error
        if pnid in self.numbers:
            return httpx.Response(200, json=self.numbers[pnid])
        return httpx.Response(200, json={"id": pnid, "status": "CONNECTED", "quality_rating": "GREEN"})

    def media_handler(self, request: httpx.Request, pnid: str) -> httpx.Response:
        """``POST /{id}/media`` (the purchase order's PDF): records the number and the token it came with."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.uploads.append((pnid, token))
        return self._auth_error(request) or httpx.Response(200, json={"id": f"media-{len(self.uploads)}"})

    def add_number(self, pnid: str, display: str, **fields: Any) -> None:
        self.numbers[pnid] = {
            "id": pnid,
            "display_phone_number": display,
            "verified_name": "Panadería",
            "quality_rating": "GREEN",
            "status": "CONNECTED",
            "whatsapp_business_manager_messaging_limit": "TIER_2K",
            "throughput": {"level": "STANDARD"},
            **fields,
        }

    def list_handler(self, request: httpx.Request, waba: str, kind: str) -> httpx.Response:
        self.management_calls.append(kind)
        self.list_calls.append((waba, kind, request.headers.get("Authorization", "").removeprefix("Bearer ")))
        auth_error = self._auth_error(request)
        if auth_error is not None:
            return auth_error
        data = list(self.numbers.values()) if kind == "phone_numbers" else list(self.templates)
        if kind == "phone_numbers" and waba in self.numbers_by_waba:
            data = [self.numbers[n] for n in self.numbers_by_waba[waba]]
        if kind == "message_templates" and waba in self.templates_by_waba:
            data = list(self.templates_by_waba[waba])
        return httpx.Response(200, json={"data": data, "paging": {"cursors": {"before": "a", "after": "b"}}})

    def create_template_handler(self, request: httpx.Request, waba: str) -> httpx.Response:
        """``POST /{waba}/message_templates``: the template is PENDING at that WABA (Meta reviews it later)."""
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.loads(request.content)
        self.created_templates.append((waba, bearer, body))
        auth_error = self._auth_error(request)
        if auth_error is not None:
            return auth_error
        template_id = f"9{len(self.created_templates):014d}"
        category = body.get("category", "UTILITY")
        item = {"id": template_id, "name": body["name"], "language": body["language"], "status": "PENDING",
                "category": category}  # fmt: skip
        self.templates_by_waba.setdefault(waba, []).append(item)
        return httpx.Response(200, json={"id": template_id, "status": "PENDING", "category": category})

    def transport(self) -> httpx.MockTransport:
        router = respx.Router(base_url=f"{GRAPH_URL}/{API_VERSION}", assert_all_mocked=True)

        async def send(request: httpx.Request, pnid: str) -> httpx.Response:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.send_handler(request, pnid)

        router.post(path__regex=r"/(?P<pnid>\d+)/messages$").mock(side_effect=send)
        router.post(path__regex=r"/(?P<pnid>\d+)/media$").mock(side_effect=self.media_handler)
        router.get(path__regex=r"/(?P<pnid>\d+)$").mock(side_effect=self.phone_handler)
        router.get(path__regex=r"/(?P<waba>\d+)/(?P<kind>phone_numbers|message_templates)$").mock(
            side_effect=self.list_handler
        )
        router.post(path__regex=r"/(?P<waba>\d+)/message_templates$").mock(side_effect=self.create_template_handler)
        return httpx.MockTransport(router.async_handler)

    def sent_to(self) -> list[str]:
        return [s["payload"]["to"] for s in self.sends]


def po_event(tenant_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "tenant_id": str(tenant_id),
        "occurred_at": "2026-03-01T10:00:00Z",
        "purchase_order": {
            "id": "po-1",
            "number": "PO-2026-0042",
            "total_amount": "1250.00",
            "currency": "EUR",
            "delivery_date": "2026-03-03",
        },
        "supplier": {"name": "Harinas del Sur", "phone": "+34 612 345 678", "language": None},
    }
    for key, value in overrides.items():
        if key in ("purchase_order", "supplier"):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


@contextlib.contextmanager
def served_by_fastapi(app: FastAPI) -> Iterator[None]:
    """``POST /api/v1/events/purchase-orders`` served as before its lean path (``LeanIngestRoute``): by FastAPI's
    own handling of the same route (dependencies, body parsing, validation), to compare the two answers."""
    route = next(r for r in app.router.routes if isinstance(r, LeanIngestRoute))
    route.__class__ = APIRoute
    try:
        yield
    finally:
        route.__class__ = LeanIngestRoute


class Clock:
    """Real time plus an offset that tests move forward (so freshly queued messages are always due)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class FrozenClock(Clock):
    """Stands still at the moment it is made (after the messages were queued, so they are due) until a test moves
    it: a rate slot cannot open because the machine was slow between two claims."""

    def __init__(self) -> None:
        super().__init__()
        self.start = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.start + self.offset


def message_row(status: str = "sending", at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """Every column of one ``whatsapp_messages`` row (for the pure domain functions), leased when ``sending``."""
    at = at or datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "event_id": None,
        "kind": "purchase_order",
        "recipient_phone": "+34612345678",
        "template_name": "po_notification",
        "requested_language": None,
        "language": None,
        "template_values": {},
        "template_parameters": None,
        "phone_number_id": "200000000000001",
        "status": status,
        "status_reason": None,
        "hold_key": None,
        "wamid": None,
        "attempts": 1,
        "transient_failures": 0,
        "throttle_count": 0,
        "possible_duplicates": 0,
        "error_code": None,
        "error_message": None,
        "error_details": None,
        "created_at": at,
        "updated_at": at,
        "due_at": at,
        "lease_owner": "d1" if status == "sending" else None,
        "lease_expires_at": at + timedelta(seconds=60) if status == "sending" else None,
        "awaiting_webhook_until": None,
        "sent_at": None,
        "delivered_at": None,
        "read_at": None,
        "failed_at": None,
        "pricing_category": None,
        "pricing_type": None,
        "billable": None,
        "cost_eur": None,
        "recipient_user_id": None,
    }
    return {**row, **overrides}
