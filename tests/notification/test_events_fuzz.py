"""Property-based fuzz of ``POST /api/v1/events/purchase-orders`` over real HTTP (ASGI) on a real SQLite file and
a real PostgreSQL database: random JSON, wrong types, Unicode, control characters, lone surrogates, huge numbers,
long strings, deep nesting and bytes that are not JSON. Whatever the body, the answer is never a 5xx, and an
accepted event reads back as stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from notification_service.app import create_app
from notification_service.migrate import upgrade
from tests.conftest import create_postgres_database, drop_postgres_database

from .helpers import FakeGraph, FakeTenantService, make_settings, po_event, served_by_fastapi, token

PATH = "/api/v1/events/purchase-orders"

# ---------------------------------------------------------------- strategies

NASTY_TEXT = st.sampled_from(
    [
        "\u0000",
        "a\u0000b",
        "\ud800",
        "x\udfff",
        "\n\t\r",
        "line\nbreak",
        "five     spaces",
        "\u2028\u2029\u0085",
        "\x1b[31mred",
        "\u202eevil",
        "\ufeff",
        "🥐" * 50,
        "é" * 201,
        "x" * 5000,
        "1e-20000000",
        "1e-999999999",
        "9" * 400,
        "-0",
        "NaN",
        "Infinity",
        " ",
        "",
    ]
)
TEXT = st.one_of(st.text(max_size=40), st.text(st.characters(codec="utf-8"), max_size=20), NASTY_TEXT)
NUMBER = st.one_of(
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(
    SCALAR,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)

FIELDS = [
    ("event_id",),
    ("tenant_id",),
    ("occurred_at",),
    ("purchase_order",),
    ("purchase_order", "id"),
    ("purchase_order", "number"),
    ("purchase_order", "total_amount"),
    ("purchase_order", "currency"),
    ("purchase_order", "delivery_date"),
    ("supplier",),
    ("supplier", "name"),
    ("supplier", "phone"),
    ("supplier", "language"),
]


@st.composite
def mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a few fields replaced (by text, numbers, any JSON) or removed, or an unknown field."""
    body = po_event(uuid.uuid4())
    body["purchase_order"]["id"] = f"po-{uuid.uuid4().hex[:12]}"  # accepted events do not collide
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(FIELDS))
        target = body
        for key in path[:-1]:
            target = target[key] if isinstance(target.get(key), dict) else target.setdefault(key, {})
            if not isinstance(target, dict):
                break
        else:
            action = draw(st.sampled_from(["text", "text", "json", "number", "delete"]))
            if action == "delete":
                target.pop(path[-1], None)
            else:
                target[path[-1]] = draw({"text": TEXT, "json": JSON, "number": NUMBER}[action])
    if draw(st.booleans()) and draw(st.booleans()):
        body[draw(TEXT)] = draw(SCALAR)
    return body


@st.composite
def texty_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event whose free-text fields are any Unicode text: most are accepted and reach the database."""
    body = po_event(uuid.uuid4())
    body["purchase_order"]["id"] = draw(st.text(min_size=1, max_size=100)) + uuid.uuid4().hex[:8]
    body["purchase_order"]["number"] = draw(st.text(min_size=1, max_size=64))
    body["supplier"]["name"] = draw(st.text(min_size=1, max_size=200))
    body["purchase_order"]["total_amount"] = draw(
        st.one_of(st.decimals(min_value=0, max_value=10**12 - 1, places=2).map(str), st.integers(0, 10**12))
    )
    return body


def _dumps(body: Any) -> bytes:
    # ASCII with \\u escapes: lone surrogates survive; NaN/Infinity tokens too (Python's parser accepts them)
    return json.dumps(body, ensure_ascii=True).encode()


BODY = st.one_of(
    texty_event().map(_dumps),
    texty_event().map(_dumps),
    mutated_event().map(_dumps),
    mutated_event().map(_dumps),
    JSON.map(_dumps),
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"[" * 20_000 + b"]" * 20_000,  # deep nesting
            b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
            b'"' + b"\\u0000" * 1000 + b'"',
            b"\xff\xfe{}",
            b"",
        ]
    ),
)

# ---------------------------------------------------------------- the app, once per database


@dataclass
class Target:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    headers: dict[str, str]
    admin: dict[str, str]
    app: FastAPI

    def post(self, content: bytes) -> httpx.Response:
        return self.loop.run_until_complete(
            self.client.post(PATH, content=content, headers={**self.headers, "Content-Type": "application/json"})
        )

    def get(self, path: str) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(path, headers=self.admin))


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        url = create_postgres_database()
    upgrade(url)
    config = make_settings(url)
    app = create_app(config, graph_transport=FakeGraph().transport(), tenant_transport=FakeTenantService().transport())
    loop = asyncio.new_event_loop()

    async def start() -> LifespanManager:
        manager = LifespanManager(app)  # detects the async library: must be built inside the loop
        await manager.__aenter__()
        return manager

    manager = loop.run_until_complete(start())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://notification")
    try:
        yield Target(loop, client, token(config, "service"), token(config, "admin"), app)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()
        if request.param == "postgres":
            drop_postgres_database(url)


def _fuzzed(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_fuzzed(300)
@given(content=BODY)
def test_no_event_body_is_a_5xx(target: Target, content: bytes) -> None:
    response = target.post(content)
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, (content[:300], response.text)
    assert response.status_code in (200, 202, 400, 409, 413, 422), (content[:300], response.text)
    if response.status_code == 422:
        body = response.json()
        assert body["code"] == "validation_error" and body["fields"], body
    if response.status_code == 202:
        stored = target.get(f"/api/v1/messages/{response.json()['notification_id']}")
        assert stored.status_code == 200, stored.text


@_fuzzed(200)
@given(content=BODY)
def test_the_lean_route_answers_what_fastapi_answers(target: Target, content: bytes) -> None:
    """The route's lean path (accepted events) against FastAPI's own handling of the same request: a refusal is the
    same answer; an accepted event is the same event (FastAPI's answer to the same body is its duplicate, 200 with
    the same notification: a different normalised payload would be a 409)."""
    lean = target.post(content)
    with served_by_fastapi(target.app):
        before = target.post(content)
    event(f"HTTP {lean.status_code}")
    if lean.status_code == 202:
        assert before.status_code == 200 and before.json() == lean.json(), (content[:300], before.text)
    else:
        assert (lean.status_code, lean.json()) == (before.status_code, before.json()), content[:300]
        assert lean.headers.get("content-type") == before.headers.get("content-type")
