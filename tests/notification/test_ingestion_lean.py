"""``POST /api/v1/events/purchase-orders`` is served by a lean ASGI path (``api/events.LeanIngestRoute``) for
accepted events and by FastAPI's own handling for everything else: every answer (status, body, the headers that
matter) must be the one FastAPI's handling of the same route gives, and the shared middleware must see the lean
path like any route."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bakery_shared.auth import Role, issue_token
from notification_service.config import NotificationSettings

from .conftest import Env, EnvFactory
from .helpers import po_event, served_by_fastapi, token

PATH = "/api/v1/events/purchase-orders"
JSON_TYPE = {"Content-Type": "application/json"}

#: (method, body, headers) of one request, from a fresh valid event (its own event id) and the settings
Build = Callable[[dict[str, Any], NotificationSettings], tuple[str, bytes, dict[str, str]]]


def _raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _service(settings: NotificationSettings) -> dict[str, str]:
    return token(settings, "service")


def _with(content: bytes | Callable[[dict[str, Any]], bytes], **headers: str) -> Build:
    """A POST of ``content`` (or ``content(event)``) with a service token, JSON type and ``headers`` on top (an
    empty value removes a header)."""

    def build(event: dict[str, Any], settings: NotificationSettings) -> tuple[str, bytes, dict[str, str]]:
        merged = {**_service(settings), **JSON_TYPE, **{k.replace("_", "-"): v for k, v in headers.items()}}
        body = content(event) if callable(content) else content
        return "POST", body, {k: v for k, v in merged.items() if v}

    return build


def _field(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], bytes]:
    def content(event: dict[str, Any]) -> bytes:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return json.dumps(event, ensure_ascii=True).encode()

    return content


def _dropped(*path: str) -> Callable[[dict[str, Any]], bytes]:
    def content(event: dict[str, Any]) -> bytes:
        target = event
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return _raw(event)

    return content


def _token(role: str, **kwargs: Any) -> Callable[[NotificationSettings], str]:
    def bearer(settings: NotificationSettings) -> str:
        return f"Bearer {issue_token(settings, role=Role(role), **kwargs)}"

    return bearer


def _authorized(authorization: str | Callable[[NotificationSettings], str], content: Any = _raw) -> Build:
    def build(event: dict[str, Any], settings: NotificationSettings) -> tuple[str, bytes, dict[str, str]]:
        value = authorization(settings) if callable(authorization) else authorization
        headers = {**JSON_TYPE, **({"Authorization": value} if value else {})}
        return "POST", content(event) if callable(content) else content, headers

    return build


def _method(method: str) -> Build:
    def build(event: dict[str, Any], settings: NotificationSettings) -> tuple[str, bytes, dict[str, str]]:
        return method, b"" if method in ("GET", "DELETE") else _raw(event), {**_service(settings), **JSON_TYPE}

    return build


def _other_id(event: dict[str, Any]) -> bytes:
    """Another event id, the same for the same event (the last of duplicate keys wins, both ways)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, event["event_id"])).encode()


def _normalised(event: dict[str, Any]) -> bytes:
    event["purchase_order"] = {**event["purchase_order"], "total_amount": 1250, "currency": "eur"}
    return _raw(event)


REFUSALS: dict[str, Build] = {
    # bodies that are not JSON, or not an object
    "invalid JSON": _with(b"{"),
    "not JSON at all": _with(b"purchase order"),
    "trailing bytes": _with(lambda e: _raw(e) + b"x"),
    "NUL after the object": _with(lambda e: _raw(e) + b"\x00"),
    "invalid UTF-8": _with(b'{"event_id": "\xff"}'),
    "deep nesting": _with(b"[" * 20_000 + b"]" * 20_000),
    "empty body": _with(b""),
    "empty body without a type": _with(b"", Content_Type=""),
    "only spaces": _with(b"   "),
    "a list": _with(b"[]"),
    "a string": _with(b'"event"'),
    "a number": _with(b"1"),
    "null": _with(b"null"),
    "true": _with(b"true"),
    # content types
    "no content type": _with(_raw, Content_Type=""),  # FastAPI's strict content type
    "text/plain": _with(_raw, Content_Type="text/plain"),
    "form": _with(b"a=1", Content_Type="application/x-www-form-urlencoded"),
    "multipart": _with(_raw, Content_Type="multipart/form-data; boundary=x"),
    "+json, invalid": _with(b"{", Content_Type="application/vnd.api+json"),
    "upper-case type, not an object": _with(b"[1]", Content_Type="APPLICATION/JSON"),
    # the model's rules, wrong types, unknown and missing fields
    "missing field": _with(_dropped("supplier", "phone")),
    "missing object": _with(_dropped("purchase_order")),
    "unknown field": _with(_field(("surprise",), 1)),
    "float amount": _with(_field(("purchase_order", "total_amount"), 12.5)),
    "exponent amount": _with(_field(("purchase_order", "total_amount"), "1e-20000000")),
    "NaN amount": _with(lambda e: _field(("purchase_order", "total_amount"), 1)(e).replace(b": 1,", b": NaN,")),
    "bad currency": _with(_field(("purchase_order", "currency"), "ZZZ")),
    "bad phone": _with(_field(("supplier", "phone"), "12")),
    "bad event id": _with(_field(("event_id",), "nope")),
    "naive garbage date": _with(_field(("occurred_at",), "yesterday")),
    "lone surrogate": _with(_field(("supplier", "name"), "x\ud800")),
    "control character": _with(_field(("purchase_order", "number"), "PO\u0000")),
    "lines that do not add up": _with(
        _field(
            ("purchase_order", "lines"),
            [{"product": "flour", "quantity": "2", "unit": "kg", "unit_price": "1.00", "line_total": "3.00"}],
        )
    ),
    "wrong types everywhere": _with(lambda e: json.dumps({k: [] for k in e}).encode()),
    # tokens: a body FastAPI can parse is checked for the token first, an unparsable one is a 422 first
    "no token": _authorized(""),
    "not a JWT": _authorized("Bearer nope"),
    "basic auth": _authorized("Basic dXNlcjpwYXNz"),
    "bearer without a token": _authorized("Bearer"),
    "admin token": _authorized(_token("admin")),
    "owner token": _authorized(_token("owner", tenant_id=uuid.uuid4())),
    "expired service token": _authorized(_token("service", ttl=timedelta(seconds=-60))),
    "no token, invalid JSON": _authorized("", b"{"),
    "no token, empty body": _authorized("", b""),
    "admin token, invalid body": _authorized(_token("admin"), _dropped("supplier")),
    "no token, text/plain": _with(_raw, Authorization="", Content_Type="text/plain"),
    # other methods
    "GET": _method("GET"),
    "PUT": _method("PUT"),
    "DELETE": _method("DELETE"),
}

ACCEPTED: dict[str, Build] = {
    "plain": _with(_raw),
    "charset": _with(_raw, Content_Type="application/json; charset=utf-8"),
    "upper-case charset": _with(_raw, Content_Type="application/json; charset=UTF-8"),
    "other charset": _with(_raw, Content_Type="application/json; charset=latin-1"),
    "+json": _with(_raw, Content_Type="application/vnd.api+json"),
    "upper-case type": _with(_raw, Content_Type="Application/JSON"),
    "UTF-8 BOM": _with(lambda e: b"\xef\xbb\xbf" + _raw(e)),
    "UTF-16": _with(lambda e: json.dumps(e).encode("utf-16")),
    "lower-case scheme": _authorized(lambda s: _token("service")(s).replace("Bearer", "bearer")),
    "duplicate keys": _with(lambda e: _raw(e)[:-1] + b', "event_id": "' + _other_id(e) + b'"}'),
    "integer amount, lower-case currency": _with(_normalised),
}

#: the headers an answer is compared on (besides status and body); the request id differs by design
HEADERS = ("content-type", "content-length", "www-authenticate", "allow", "retry-after")


def _answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.content
    return response.status_code, body, {h: response.headers[h] for h in HEADERS if h in response.headers}


@pytest.fixture
async def lean_env(make_env: EnvFactory, sqlite_url: str) -> AsyncIterator[Env]:
    yield await make_env(sqlite_url)


async def _send(env: Env, build: Build, event: dict[str, Any]) -> httpx.Response:
    method, content, headers = build(event, env.settings)
    return await env.client.request(method, PATH, content=content, headers=headers)


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_every_refusal_is_the_answer_fastapi_gives(lean_env: Env, name: str) -> None:
    env, build = lean_env, REFUSALS[name]
    tenant = env.tenants.add()
    lean = await _send(env, build, po_event(tenant))
    with served_by_fastapi(env.app):
        before = await _send(env, build, po_event(tenant))
    assert lean.status_code >= 400, lean.text
    assert _answer(lean) == _answer(before)


@pytest.mark.parametrize("name", list(ACCEPTED))
async def test_accepted_events_are_the_events_fastapi_accepts(lean_env: Env, name: str) -> None:
    """The same request through both paths: the second is the first's duplicate (same notification, 200), so both
    read the same event, down to its normalised payload (a different one would be a 409)."""
    env, build = lean_env, ACCEPTED[name]
    event = po_event(env.tenants.add())
    lean = await _send(env, build, event)
    with served_by_fastapi(env.app):
        before = await _send(env, build, event)
        first = await _send(env, build, po_event(env.tenants.add()))
    assert lean.status_code == 202 and first.status_code == 202, (lean.text, first.text)
    assert before.status_code == 200 and before.json() == lean.json()
    assert lean.json().keys() == first.json().keys() == {"notification_id", "status"}
    assert lean.json()["status"] == first.json()["status"]
    assert _answer(lean)[2] == _answer(first)[2]
    again = await _send(env, build, event)
    assert again.status_code == 200 and again.json() == lean.json()


async def test_a_conflict_is_the_answer_fastapi_gives(lean_env: Env) -> None:
    env = lean_env
    event = po_event(env.tenants.add())
    assert (await env.post_event(event)).status_code == 202
    changed = {**event, "occurred_at": "2026-03-02T10:00:00Z"}
    lean = await env.post_event(changed)
    with served_by_fastapi(env.app):
        before = await env.post_event(changed)
    assert lean.status_code == 409
    assert _answer(lean) == _answer(before)


async def test_the_body_limit_holds_declared_or_streamed(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, max_body_bytes=4096)
    tenant = env.tenants.add()
    big = _field(("supplier", "name"), "x" * 5000)(po_event(tenant))
    headers = {**_service(env.settings), **JSON_TYPE}
    declared = await env.client.post(PATH, content=big, headers=headers)
    with served_by_fastapi(env.app):
        before = await env.client.post(PATH, content=big, headers=headers)
    assert declared.status_code == 413
    assert _answer(declared) == _answer(before)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    # streamed (no Content-Length): the limit answers 413 mid-body; the route stops reading, without an error
    streamed = await env.client.post(PATH, content=chunks(), headers=headers)
    assert _answer(streamed) == _answer(declared)


async def test_the_lean_path_keeps_request_ids_access_logs_and_metrics(
    lean_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env = lean_env
    metric = 'http_requests_total{method="POST",route="%s",service="notification-service",status="%d"}'

    def counted(text: str, status: int) -> float:
        prefix = metric % (PATH, status)
        line = next((line for line in text.splitlines() if line.startswith(prefix)), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    async def scrape() -> str:
        return (await env.client.get("/metrics", headers=token(env.settings, "admin"))).text

    before = await scrape()
    event = po_event(env.tenants.add())
    headers = {**_service(env.settings), "X-Request-ID": "po-req-1"}
    with caplog.at_level(logging.INFO, logger="notification-service.access"):
        r = await env.client.post(PATH, json=event, headers=headers)
        again = await env.client.post(PATH, json=event, headers={**headers, "X-Request-ID": "bad id\n"})
        refused = await env.client.post(PATH, json=event, headers={"X-Request-ID": "po-req-3"})
    assert (r.status_code, again.status_code, refused.status_code) == (202, 200, 401)
    assert r.headers["x-request-id"] == "po-req-1" and refused.headers["x-request-id"] == "po-req-3"
    assert len(again.headers["x-request-id"]) == 32  # an invalid id is replaced, as on every route
    access = [rec for rec in caplog.records if rec.name == "notification-service.access"]
    assert [(rec.route, rec.status, rec.http_method) for rec in access] == [  # type: ignore[attr-defined]
        (PATH, 202, "POST"),
        (PATH, 200, "POST"),
        (PATH, 401, "POST"),
    ]
    after = await scrape()
    for status in (202, 200, 401):
        assert counted(after, status) == counted(before, status) + 1, status


async def test_an_accepted_event_does_not_go_through_fastapi(lean_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the lean path: no ``Request``, dependency solving or response object for an accepted event.
    FastAPI's handler of the route is replaced by one that fails: an event is still accepted, a refusal is not."""
    env = lean_env
    route = next(r for r in env.app.router.routes if getattr(r, "path", None) == PATH)

    async def framework(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("served by FastAPI's handler")

    monkeypatch.setattr(route, "app", framework)
    accepted = await env.post_event(po_event(env.tenants.add()))
    assert accepted.status_code == 202, accepted.text
    with pytest.raises(AssertionError, match="FastAPI's handler"):
        await env.client.post(PATH, json=po_event(env.tenants.add()))  # no token: FastAPI's answer
