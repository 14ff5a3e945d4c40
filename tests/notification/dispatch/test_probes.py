"""Holds placed by the dispatcher converge (dispatch/probes.py; issue 12, defect 2): a send-only restriction is
probed by one real send per cycle with growing waits, and after HOLD_MAX_PROBE_CYCLES failed cycles it waits for
an admin's release — a bounded number of sends per message, however long Meta keeps refusing."""

from __future__ import annotations

from collections import Counter

from ..conftest import Env
from ..helpers import Clock, graph_error, po_event

SPAM = 131048


async def _queue(env: Env, count: int) -> list[str]:
    tenant = env.tenants.add(phone_number_id="200000000000001")
    ids = []
    for i in range(count):
        response = await env.post_event(po_event(tenant, supplier={"phone": f"+34 6{i:08d}"}))
        assert response.status_code == 202, response.text
        ids.append(response.json()["notification_id"])
    return ids


def _sends_per_message(env: Env) -> Counter[str]:
    return Counter(s["payload"]["biz_opaque_callback_data"].removeprefix("notification:") for s in env.graph.sends)


async def test_a_number_that_answers_131048_forever_gets_a_bounded_number_of_sends(env: Env) -> None:
    """Before: the probe was a read (GET /<number>), which still succeeds, so every probe interval the hold was
    lifted and the whole backlog re-sent: 200 sends for 20 messages in 10 cycles, and on and on."""
    ids = await _queue(env, 20)
    env.graph.script = [graph_error(SPAM, "Spam rate limit hit", 400) for _ in range(1000)]
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    assert len(env.graph.sends) == 20
    for _ in range(10):  # ten probe intervals, each long enough for the longest backoff
        clock.advance(env.settings.hold_probe_max_interval_seconds + 1)
        await d.probe_holds()
        await d.drain()
    cycles = env.settings.hold_max_probe_cycles
    assert len(env.graph.sends) == 20 + cycles
    per_message = _sends_per_message(env)
    assert max(per_message.values()) == 1 + cycles and set(per_message) == set(ids)
    assert env.graph.probes == []  # a read cannot tell whether sending works again
    messages = [await env.message(i) for i in ids]
    assert {m["status"] for m in messages} == {"held"}
    paused = (await env.ready()).json()["checks"]["sending"]["paused"]
    assert len(paused) == 1
    assert "release the hold" in paused[0]["reason"]


async def test_a_restriction_that_lifts_is_found_by_the_probe_and_everything_goes_out(env: Env) -> None:
    ids = await _queue(env, 20)
    # the first batch and two probe cycles fail; the third probe is accepted
    env.graph.script = [graph_error(SPAM, "Spam rate limit hit", 400) for _ in range(22)]
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    for _ in range(3):
        clock.advance(env.settings.hold_probe_max_interval_seconds + 1)
        await d.probe_holds()
        await d.drain()
    messages = [await env.message(i) for i in ids]
    assert {m["status"] for m in messages} == {"sent"}
    assert len(env.graph.sends) == 20 + 3 + 19
    assert max(_sends_per_message(env).values()) == 4  # the probe message: first try and three probes
    assert (await env.ready()).json()["checks"]["sending"]["paused"] == []


async def test_probe_waits_grow_between_cycles(env: Env) -> None:
    await _queue(env, 2)
    env.graph.script = [graph_error(SPAM, "Spam rate limit hit", 400) for _ in range(100)]
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    interval = env.settings.hold_probe_interval_seconds
    clock.advance(interval + 1)
    assert await d.probe_holds() == 1  # first cycle due after one interval
    await d.drain()
    clock.advance(interval + 1)
    assert await d.probe_holds() == 0  # the second waits 4 intervals
    clock.advance(3 * interval)
    assert await d.probe_holds() == 1


async def test_a_probe_never_passes_another_kind_of_hold_on_the_same_number(env: Env) -> None:
    """The probe message may pass the restricted hold it checks, not a quality hold placed on the same number."""
    from bakery_shared.db import transaction
    from notification_service.repositories import holds as holds_repo

    await _queue(env, 2)
    env.graph.script = [graph_error(SPAM, "Spam rate limit hit", 400) for _ in range(2)]
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    assert len(env.graph.sends) == 2
    async with transaction(d.sessions) as session:  # the number's quality turns RED meanwhile
        await holds_repo.place_hold(
            session,
            scope="phone_number",
            scope_key="200000000000001",
            kind="quality",
            reason="quality: phone number quality rating is RED",
            error_code=None,
            probe_phone_number_id=None,
            now=clock(),
            next_probe_at=None,
        )
    clock.advance(env.settings.hold_probe_interval_seconds + 1)
    assert await d.probe_holds() == 1  # the restricted hold releases its probe message …
    await d.drain()
    assert len(env.graph.sends) == 2  # … which the quality hold keeps
