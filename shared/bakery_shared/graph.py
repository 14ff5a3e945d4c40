"""The one async Graph API (WhatsApp Cloud API) client used by every service.

* Base URL and version from settings (``WHATSAPP_GRAPH_URL``, ``WHATSAPP_API_VERSION``), so the same code talks
  to Meta or to the local sandbox.
* The master access token comes from ``WHATSAPP_ACCESS_TOKEN`` or ``WHATSAPP_ACCESS_TOKEN_FILE``; the file is
  re-read when it changes, so the 60-day rotation needs no restart.
* Errors are typed: :class:`GraphError` carries Meta's ``code``, ``error_subcode``, ``message`` and ``fbtrace_id``;
  :class:`GraphTimeout` says whether the request may have reached Meta. What a code means for a message (retry,
  hold, fail) is the notification service's policy, not the client's.
* No secret leaves through an error: Meta's answer is redacted (the access token in use, every token the provider
  has read, ``EAA…`` and JWT shapes) once, where :class:`GraphError` is built from it, and ``str()`` of every
  Graph exception is redacted again (:func:`bakery_shared.logging.redact`).
"""

from __future__ import annotations

import asyncio
import copy
import json as jsonlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bakery_shared.logging import redact, redact_data, register_secret
from bakery_shared.settings import WhatsAppSettings


class GraphClientError(Exception):
    """Base of everything the Graph client raises; ``str()`` never shows a token. What an error means for a
    message (retry, hold, fail) is the notification service's policy (``notification_service.dispatch.outcomes``)."""

    def __str__(self) -> str:
        return redact(super().__str__())


@dataclass
class GraphError(GraphClientError):
    http_status: int
    code: int | None
    message: str
    error_subcode: int | None = None
    fbtrace_id: str | None = None
    error_type: str | None = None
    details: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def is_token_problem(self) -> bool:
        return self.code in (0, 190)

    @property
    def title(self) -> str:
        """Meta's message without the ``(#code)`` prefix."""
        text = self.message
        if text.startswith("(#") and ")" in text:
            text = text.split(")", 1)[1].strip()
        return text

    def __str__(self) -> str:
        parts = [f"Graph API error {self.code}: {self.message}"]
        if self.details:
            parts.append(f"({self.details})")
        return redact(" ".join(parts))


class GraphTimeout(GraphClientError):
    """No answer in time. ``maybe_delivered`` is True when the request may have reached Meta."""

    def __init__(self, message: str, *, maybe_delivered: bool):
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class GraphTransportError(GraphClientError):
    """The connection failed before the request was sent (safe to retry)."""


class GraphNotConfigured(GraphClientError):
    """No access token is configured."""


class AccessTokenProvider:
    """The master token, from the environment or from a file re-read whenever it changes."""

    def __init__(self, token: str = "", token_file: Path | None = None):
        self._static = token
        register_secret(token)
        self._file = token_file
        self._cached: str = ""
        self._stamp: tuple[int, int] | None = None

    def get(self) -> str:
        if self._file is not None:
            try:
                stat = os.stat(self._file)
            except FileNotFoundError:
                return self._static
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._cached = Path(self._file).read_text(encoding="utf-8").strip()
                self._stamp = stamp
                register_secret(self._cached)  # redacted from every error and log line from now on
            return self._cached or self._static
        return self._static

    @property
    def source(self) -> str:
        return "file" if self._file is not None else "environment"


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str | None
    message_status: str | None
    raw: dict[str, Any]
    user_id: str | None = None  # ``contacts[0].user_id``: only when the send addressed a business-scoped user ID


def template_payload(
    *,
    to: str | None,
    template_name: str,
    language: str,
    body_parameters: Sequence[str],
    biz_opaque_callback_data: str | None = None,
    recipient: str | None = None,
    button_payloads: Sequence[str] = (),
    header_document: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A template send to the phone number ``to`` or to the business-scoped user ID ``recipient`` (Meta page
    "Business-scoped user IDs", 2026: when both are given, Meta sends to ``to``). ``button_payloads``: the payload
    of each quick-reply button of the template, in the template's button order (index 0, 1, …); Meta returns it
    when the button is tapped. ``header_document``: (media id, file name) of a template with a DOCUMENT header
    (Meta page "Send message templates": header parameter ``{"type": "document", "document": {"id", "filename"}}``)."""
    components: list[dict[str, Any]] = []
    if header_document is not None:
        media_id, filename = header_document
        components.append(
            {"type": "header", "parameters": [{"type": "document", "document": {"id": media_id, "filename": filename}}]}
        )
    components.append({"type": "body", "parameters": [{"type": "text", "text": value} for value in body_parameters]})
    components.extend(
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(index),
            "parameters": [{"type": "payload", "payload": payload}],
        }
        for index, payload in enumerate(button_payloads)
    )
    payload = _envelope(to, recipient, biz_opaque_callback_data)
    payload["type"] = "template"
    payload["template"] = {"name": template_name, "language": {"code": language}, "components": components}
    return payload


def text_payload(
    *, to: str | None, body: str, biz_opaque_callback_data: str | None = None, recipient: str | None = None
) -> dict[str, Any]:
    """A free-form text send. Meta accepts it only inside the 24-hour customer-service window that the user's last
    message opened (error 131047 otherwise); keeping to the window is the caller's rule."""
    payload = _envelope(to, recipient, biz_opaque_callback_data)
    payload["type"] = "text"
    payload["text"] = {"preview_url": False, "body": body}
    return payload


def _envelope(to: str | None, recipient: str | None, biz_opaque_callback_data: str | None) -> dict[str, Any]:
    if not to and not recipient:
        raise ValueError("a send needs a phone number (to) or a business-scoped user ID (recipient)")
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to:
        payload["to"] = to
    if recipient:
        payload["recipient"] = recipient
    if biz_opaque_callback_data:
        payload["biz_opaque_callback_data"] = biz_opaque_callback_data
    return payload


class AiohttpGraphTransport(AiohttpTransport):
    """``httpx_aiohttp``'s transport with aiohttp errors mapped to what the Graph client must know: did the
    request possibly reach Meta? httpx-aiohttp maps every ``ClientConnectionError`` (also a disconnect or reset
    after the request was written) to ``ConnectTimeout``, which would read as "never sent"."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ConnectionTimeoutError):
                raise httpx.ConnectTimeout(str(exc), request=request) from cause
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(exc), request=request) from cause
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                # disconnected / reset after connecting: the request may have been delivered
                raise httpx.ReadError(str(exc), request=request) from cause
            raise


@dataclass
class _Pool:
    """The aiohttp session a client and its token views share (created on first use)."""

    session: aiohttp.ClientSession | None = None


class GraphClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        tokens: AccessTokenProvider,
        timeout: float = 10.0,
        max_in_flight: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
        http_transport: str = "httpx",
    ):
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.tokens = tokens
        self._timeout = timeout
        # httpx's pool slows down sharply with many requests in flight: cap them.
        self._gate = asyncio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
        #: ``http_transport="aiohttp"`` (and no test transport): requests go straight to an aiohttp session, with
        #: the same error mapping as the httpx path; httpx's request and response objects around aiohttp cost
        #: more CPU than the request itself (docs/benchmarks.md, issue 14)
        self._aiohttp = transport is None and http_transport == "aiohttp"
        #: the connection pools, shared with every view :meth:`with_tokens` makes (one pool per process)
        self._pool = _Pool()
        self._aiohttp_timeout = aiohttp.ClientTimeout(
            sock_connect=min(timeout, 5.0), sock_read=timeout, connect=timeout
        )
        if transport is None and http_transport == "aiohttp":
            # httpx's API on aiohttp's connection handling, for anything that still uses ``self._http``
            transport = AiohttpGraphTransport(limits=limits)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), limits=limits, transport=transport
        )
        self._owns_pool = True

    def with_tokens(self, tokens: AccessTokenProvider) -> GraphClient:
        """The same client (connection pools, in-flight cap, version) speaking with another account's token
        (issue 18: a number's account decides the token). Closing a view closes nothing."""
        view = copy.copy(self)
        view.tokens = tokens
        view._owns_pool = False
        return view

    @classmethod
    def from_settings(cls, settings: WhatsAppSettings, **kwargs: Any) -> GraphClient:
        return cls(
            base_url=settings.whatsapp_graph_url,
            api_version=settings.whatsapp_api_version,
            tokens=AccessTokenProvider(
                settings.whatsapp_access_token.get_secret_value(), settings.whatsapp_access_token_file
            ),
            timeout=settings.whatsapp_http_timeout_seconds,
            max_in_flight=settings.whatsapp_max_in_flight,
            http_transport=settings.whatsapp_http_transport,
            **kwargs,
        )

    async def aclose(self) -> None:
        if not self._owns_pool:
            return
        if self._pool.session is not None:
            await self._pool.session.close()
            self._pool.session = None
        await self._http.aclose()

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{self.api_version}/{path.lstrip('/')}"

    async def _request(
        self, method: str, path_or_url: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        token = self.tokens.get()
        if not token:
            raise GraphNotConfigured("No WhatsApp access token is configured")
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self._url(path_or_url)
        headers = {"Authorization": f"Bearer {token}"}
        if self._aiohttp:
            async with self._gate:
                status, content = await self._aiohttp_request(method, url, json, params, headers)
            return _parse_body(status, content, token)
        async with self._gate:
            try:
                response = await self._http.request(method, url, json=json, params=params, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise GraphTransportError(f"Could not connect to the Graph API: {type(exc).__name__}") from exc
            except httpx.TimeoutException as exc:
                raise GraphTimeout(f"The Graph API did not answer in {self._timeout:g}s", maybe_delivered=True) from exc
            except httpx.TransportError as exc:
                raise GraphTimeout(
                    f"The connection to the Graph API broke: {type(exc).__name__}", maybe_delivered=True
                ) from exc
        return _parse(response, token)

    async def _aiohttp_request(
        self, method: str, url: str, json: Any, params: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request on the aiohttp session: (status, body), or the Graph exception the httpx path raises for
        the same failure (connect problems are "never sent"; anything after connecting may have reached Meta)."""
        session = self._pool.session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_in_flight)
            session = self._pool.session = aiohttp.ClientSession(connector=connector, timeout=self._aiohttp_timeout)
        data: bytes | None = None
        if json is not None:
            data = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                method, url, data=data, params=params, headers=headers, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise GraphTransportError("Could not connect to the Graph API: ConnectTimeout") from exc
        except aiohttp.ClientConnectorError as exc:
            raise GraphTransportError("Could not connect to the Graph API: ConnectError") from exc
        except aiohttp.SocketTimeoutError as exc:
            raise GraphTimeout(f"The Graph API did not answer in {self._timeout:g}s", maybe_delivered=True) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GraphTimeout("The connection to the Graph API broke: ReadError", maybe_delivered=True) from exc

    async def send_template(
        self,
        phone_number_id: str,
        *,
        to: str | None,
        template_name: str,
        language: str,
        body_parameters: Sequence[str],
        biz_opaque_callback_data: str | None = None,
        recipient: str | None = None,
        marketing: bool = False,
        button_payloads: Sequence[str] = (),
        header_document: tuple[str, str] | None = None,
    ) -> SendResult:
        """POST the template to ``/<phone_number_id>/messages``, or with ``marketing`` to
        ``/<phone_number_id>/marketing_messages`` (Meta's Marketing Messages API: same body, MARKETING templates)."""
        body = template_payload(
            to=to,
            template_name=template_name,
            language=language,
            body_parameters=body_parameters,
            biz_opaque_callback_data=biz_opaque_callback_data,
            recipient=recipient,
            button_payloads=button_payloads,
            header_document=header_document,
        )
        edge = "marketing_messages" if marketing else "messages"
        return await self._send(f"{phone_number_id}/{edge}", body)

    async def send_text(
        self,
        phone_number_id: str,
        *,
        to: str | None,
        body: str,
        biz_opaque_callback_data: str | None = None,
        recipient: str | None = None,
    ) -> SendResult:
        """POST a free-form text to ``/<phone_number_id>/messages`` (only inside the customer-service window)."""
        payload = text_payload(to=to, body=body, biz_opaque_callback_data=biz_opaque_callback_data, recipient=recipient)
        return await self._send(f"{phone_number_id}/messages", payload)

    async def upload_media(self, phone_number_id: str, *, content: bytes, mime_type: str, filename: str) -> str:
        """POST a file to ``/<phone_number_id>/media`` (multipart: ``messaging_product``, ``type``, ``file``; Meta
        page "Media", Cloud API) and return its media id. Meta keeps uploaded media for 30 days. Errors are the
        sends' errors (:class:`GraphError`, :class:`GraphTransportError`, :class:`GraphTimeout`)."""
        token = self._token()
        response = await self._http_call(
            "POST",
            self._url(f"{phone_number_id}/media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
            headers={"Authorization": f"Bearer {token}"},
        )
        return self._required(response, token, "id", "The Graph API answered the upload without a media id")

    async def upload_header_handle(self, app_id: str, *, content: bytes, mime_type: str, filename: str) -> str:
        """Meta's Resumable Upload API, as template creation needs it for a media header (``example.header_handle``):
        ``POST /<APP_ID>/uploads`` opens a session (``{"id": "upload:…"}``), ``POST /<upload id>`` with
        ``Authorization: OAuth <token>`` and ``file_offset: 0`` sends the bytes and answers ``{"h": <handle>}``."""
        if not app_id:
            raise GraphNotConfigured("WHATSAPP_APP_ID is not set: Meta's Resumable Upload API needs the app's id")
        token = self._token()
        opened = await self._http_call(
            "POST",
            self._url(f"{app_id}/uploads"),
            params={"file_name": filename, "file_length": len(content), "file_type": mime_type},
            headers={"Authorization": f"Bearer {token}"},
        )
        session_id = self._required(opened, token, "id", "The Graph API opened no upload session")
        sent = await self._http_call(
            "POST",
            self._url(session_id),
            content=content,
            headers={"Authorization": f"OAuth {token}", "file_offset": "0", "Content-Type": mime_type},
        )
        return self._required(sent, token, "h", "The Graph API answered the upload without a file handle")

    async def get_account(self, waba_id: str) -> dict[str, Any]:
        """The WhatsApp Business Account itself (``GET /<WABA_ID>``): proves the token can read it."""
        return await self._request("GET", waba_id, params={"fields": "id,name,currency,timezone_id"})

    async def exchange_code(self, *, app_id: str, app_secret: str, code: str) -> str:
        """Embedded Signup's code → the customer's business token (``/oauth/access_token``, Tech Provider
        onboarding). The request carries the app's credentials, not a bearer token; the token that comes back is
        registered as a secret at once, so no log line or error can show it."""
        register_secret(app_secret)
        register_secret(code)
        # a form body, not the query string: the app secret and the code never reach a URL (or a log of one)
        response = await self._http_call(
            "POST",
            self._url("oauth/access_token"),
            data={"client_id": app_id, "client_secret": app_secret, "code": code},
            headers={},
        )
        token = _parse(response, app_secret).get("access_token")
        if not isinstance(token, str) or not token:
            raise GraphError(
                http_status=response.status_code, code=None, message="Meta answered the code without a token", raw={}
            )
        register_secret(token)
        return token

    async def subscribe_app(self, waba_id: str) -> dict[str, Any]:
        """Subscribe this app to the account's webhooks (``POST /<WABA_ID>/subscribed_apps``)."""
        return await self._request("POST", f"{waba_id}/subscribed_apps")

    async def register_number(self, phone_number_id: str, *, pin: str) -> dict[str, Any]:
        """Register a number for the Cloud API (``POST /<PHONE_NUMBER_ID>/register`` with its two-step PIN)."""
        register_secret(pin)
        return await self._request(
            "POST", f"{phone_number_id}/register", json={"messaging_product": "whatsapp", "pin": pin}
        )

    def _token(self) -> str:
        token = self.tokens.get()
        if not token:
            raise GraphNotConfigured("No WhatsApp access token is configured")
        return token

    async def _http_call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request on the httpx pool (uploads and the code exchange), with the sends' error mapping."""
        async with self._gate:
            try:
                return await self._http.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise GraphTransportError(f"Could not connect to the Graph API: {type(exc).__name__}") from exc
            except httpx.TimeoutException as exc:
                raise GraphTimeout(f"The Graph API did not answer in {self._timeout:g}s", maybe_delivered=True) from exc
            except httpx.TransportError as exc:
                raise GraphTimeout(
                    f"The connection to the Graph API broke: {type(exc).__name__}", maybe_delivered=True
                ) from exc

    @staticmethod
    def _required(response: httpx.Response, token: str, key: str, problem: str) -> str:
        data = _parse(response, token)
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise GraphError(
                http_status=response.status_code, code=None, message=problem, raw=redact_data(data, (token,))
            )
        return value

    async def _send(self, path: str, body: dict[str, Any]) -> SendResult:
        data = await self._request("POST", path, json=body)
        try:
            message = data["messages"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise GraphError(
                http_status=200,
                code=None,
                message="The Graph API answered without a message id",
                raw=redact_data(data, (self.tokens.get(),)),
            ) from exc
        contacts = data.get("contacts") or [{}]
        return SendResult(
            wamid=str(message["id"]),
            wa_id=contacts[0].get("wa_id"),
            message_status=message.get("message_status"),
            raw=data,
            user_id=contacts[0].get("user_id"),
        )

    async def paginate(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paged Graph collection, following ``paging.next``."""
        url: str | None = path
        query = params
        pages = 0
        while url is not None and pages < 1000:
            data = await self._request("GET", url, params=query)
            for item in data.get("data", []):
                yield item
            url = (data.get("paging") or {}).get("next")
            query = None  # the next URL carries every parameter
            pages += 1

    async def list_phone_numbers(self, waba_id: str) -> list[dict[str, Any]]:
        fields = (
            "id,display_phone_number,verified_name,quality_rating,status,name_status,"
            # the portfolio's messaging limit; ``messaging_limit_tier`` is deprecated (Meta, "Messaging limits")
            "code_verification_status,throughput,whatsapp_business_manager_messaging_limit"
        )
        return [item async for item in self.paginate(f"{waba_id}/phone_numbers", {"fields": fields, "limit": 100})]

    async def get_phone_number(self, phone_number_id: str, fields: str | None = None) -> dict[str, Any]:
        fields = fields or (
            "id,display_phone_number,verified_name,quality_rating,status,throughput,"
            "whatsapp_business_manager_messaging_limit,name_status"
        )
        return await self._request("GET", phone_number_id, params={"fields": fields})

    async def list_templates(self, waba_id: str) -> list[dict[str, Any]]:
        fields = "id,name,language,status,category,components"
        return [item async for item in self.paginate(f"{waba_id}/message_templates", {"fields": fields, "limit": 100})]

    async def create_template(self, waba_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a template for review (``POST /<WABA_ID>/message_templates``, Meta: "Create and manage
        templates"). The answer is ``{"id", "status", "category"}``; Meta's refusals raise :class:`GraphError`."""
        return await self._request("POST", f"{waba_id}/message_templates", json=body)

    async def pricing_analytics(
        self,
        waba_id: str,
        *,
        start: int,
        end: int,
        granularity: str = "DAILY",
        dimensions: Sequence[str] = ("PHONE", "COUNTRY", "PRICING_CATEGORY", "PRICING_TYPE"),
    ) -> list[dict[str, Any]]:
        """Meta's per-message volume and cost (``GET /<WABA_ID>?fields=pricing_analytics.start(..)...``), as the
        flat list of ``data_points`` (each: start, end, phone_number, country, pricing_category, pricing_type,
        volume, cost). Meta: "Analytics" (business-management-api/analytics#pricing-analytics)."""
        dims = ",".join(f'"{d}"' for d in dimensions)
        field = (
            f"pricing_analytics.start({start}).end({end}).granularity({granularity})"
            f'.metric_types(["VOLUME","COST"]).dimensions([{dims}])'
        )
        data = await self._request("GET", waba_id, params={"fields": field})
        block = data.get("pricing_analytics") or {}
        points: list[dict[str, Any]] = []
        for entry in block.get("data") or []:
            if isinstance(entry, dict):
                points.extend(p for p in entry.get("data_points") or [] if isinstance(p, dict))
        return points


def _parse(response: httpx.Response, token: str = "") -> dict[str, Any]:
    """A success's body, or the :class:`GraphError` built from Meta's error body with every secret redacted
    (``token`` is the access token the request carried, also one rotated in a moment ago)."""
    return _parse_body(response.status_code, response.content, token)


def _parse_body(status_code: int, content: bytes, token: str = "") -> dict[str, Any]:
    """:func:`_parse` of a status and a raw body (the aiohttp path has no :class:`httpx.Response`)."""
    try:
        data = jsonlib.loads(content)
    except ValueError:
        data = None
    if 200 <= status_code < 300 and isinstance(data, dict):
        return data
    if isinstance(data, dict):
        data = redact_data(data, (token,))
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        raise GraphError(
            http_status=status_code,
            code=None,
            message=f"The Graph API answered HTTP {status_code} without an error body",
            raw=data if isinstance(data, dict) else {},
        )
    error_data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    return_error = GraphError(
        http_status=status_code,
        code=int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        message=str(error.get("message") or "Unknown Graph API error"),
        error_subcode=int(subcode) if isinstance(subcode, int) else None,
        fbtrace_id=error.get("fbtrace_id"),
        error_type=error.get("type"),
        details=(error_data or {}).get("details"),
        raw=data if isinstance(data, dict) else {},
    )
    raise return_error
