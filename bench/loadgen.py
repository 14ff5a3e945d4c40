"""The load generator, run in its own process: ``python -m bench.loadgen '<json config>'`` prints JSON.

Modes:

* ``closed``: ``concurrency`` workers loop POSTing purchase-order events for ``duration`` s (after ``warmup``
  s, discarded); reports accepted/s and latency percentiles.
* ``open``: a steady ``rate`` events/s for ``duration`` s (arrivals on a fixed schedule, not waiting for
  answers); writes ``[notification_id, accepted_at]`` pairs (wall clock, ``time.time()`` when the 202 arrived)
  to ``out`` for the end-to-end join with the sandbox's receive timestamps.

* ``bodies``: POST every pre-built body of ``file`` (a JSON list of ``[raw body, X-Hub-Signature-256]``) once,
  in order, from ``concurrency`` workers (signed webhooks); reports accepted/s over the whole list, latency
  percentiles and the wall-clock start (``started_at``) for the applied-rate measure.

Event bodies: a fresh ``event_id`` each, tenants round-robin from ``tenants``, supplier phones cycling through
``recipients_per_tenant`` numbers per tenant (so the pair and daily-recipient gates see realistic repeats).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Bodies:
    def __init__(self, tenants: list[str], recipients_per_tenant: int, offset: int = 0) -> None:
        self.tenants = tenants
        self.per_tenant = recipients_per_tenant
        self.seq = offset

    def next(self) -> bytes:
        k = self.seq
        self.seq += 1
        t = k % len(self.tenants)
        r = (k // len(self.tenants)) % self.per_tenant
        phone = f"+34{600000000 + t * 1000 + r}"
        body = {
            "event_id": str(uuid.uuid4()),
            "tenant_id": self.tenants[t],
            "occurred_at": datetime.now(UTC).isoformat(),
            "purchase_order": {
                "id": f"po-{k}",
                "number": f"PO-{k}",
                "total_amount": "1250.00",
                "currency": "EUR",
                "delivery_date": None,
            },
            "supplier": {"name": "Harinas Ana", "phone": phone, "language": None},
        }
        return json.dumps(body).encode()


async def closed(cfg: dict[str, Any]) -> dict[str, Any]:
    url, headers = cfg["url"], {"Content-Type": "application/json", **cfg.get("headers", {})}
    bodies = Bodies(cfg["tenants"], cfg.get("recipients_per_tenant", 200), cfg.get("offset", 0))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    warmup_ok = 0
    measuring = False
    stop_at = 0.0
    connector = aiohttp.TCPConnector(limit=cfg["concurrency"])
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def worker() -> None:
            nonlocal errors, warmup_ok
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    async with http.post(url, data=bodies.next(), headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    if measuring:
                        errors += 1
                    continue
                if measuring and time.monotonic() <= stop_at:
                    latencies.append(time.monotonic() - started)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                elif status in (200, 202):
                    warmup_ok += 1  # warm-up, or answered after the window: the server did the work all the same

        stop_at = time.monotonic() + cfg.get("warmup", 2)
        await asyncio.gather(*(worker() for _ in range(cfg["concurrency"])))
        measuring = True
        began = time.monotonic()
        stop_at = began + cfg["duration"]
        await asyncio.gather(*(worker() for _ in range(cfg["concurrency"])))
        elapsed = time.monotonic() - began
    ok = sum(v for k, v in statuses.items() if k in ("200", "202"))
    return {
        "requests": len(latencies),
        "ok": ok,
        "rate": ok / elapsed,
        "elapsed": elapsed,
        "p50_ms": (percentile(latencies, 50) or 0) * 1000,
        "p99_ms": (percentile(latencies, 99) or 0) * 1000,
        "statuses": statuses,
        "errors": errors,
        "unmeasured_ok": warmup_ok,
    }


async def bodies_run(cfg: dict[str, Any]) -> dict[str, Any]:
    with open(cfg["file"], encoding="utf-8") as fh:  # noqa: ASYNC230 - before the run
        items: list[tuple[str, str]] = [(raw, sig) for raw, sig in json.load(fh)]
    url = cfg["url"]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    queue = iter(items)
    connector = aiohttp.TCPConnector(limit=cfg["concurrency"])
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def worker() -> None:
            nonlocal errors
            for raw, signature in queue:
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
                started = time.monotonic()
                try:
                    async with http.post(url, data=raw.encode(), headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.monotonic() - started)
                statuses[str(status)] = statuses.get(str(status), 0) + 1

        started_at = time.time()
        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(cfg["concurrency"])))
        elapsed = time.monotonic() - began
    ok = statuses.get("200", 0)
    return {
        "requests": len(latencies),
        "ok": ok,
        "rate": ok / elapsed,
        "elapsed": elapsed,
        "started_at": started_at,
        "p50_ms": (percentile(latencies, 50) or 0) * 1000,
        "p99_ms": (percentile(latencies, 99) or 0) * 1000,
        "statuses": statuses,
        "errors": errors,
    }


async def open_loop(cfg: dict[str, Any]) -> dict[str, Any]:
    url, headers = cfg["url"], {"Content-Type": "application/json", **cfg.get("headers", {})}
    bodies = Bodies(cfg["tenants"], cfg.get("recipients_per_tenant", 200), cfg.get("offset", 0))
    accepted: list[tuple[str, float]] = []
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    rate, duration = float(cfg["rate"]), float(cfg["duration"])
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(total=30)
    ) as http:

        async def one(body: bytes) -> None:
            nonlocal errors
            started = time.monotonic()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    data = await response.json()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, ValueError):
                errors += 1
                return
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 202:
                accepted.append((data["notification_id"], time.time()))
                latencies.append(time.monotonic() - started)

        tasks: list[asyncio.Task[None]] = []
        began = time.monotonic()
        total = int(rate * duration)
        for i in range(total):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(bodies.next())))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
    if cfg.get("out"):
        with open(cfg["out"], "w", encoding="utf-8") as fh:  # noqa: ASYNC230 - after the run
            json.dump(accepted, fh)
    return {
        "sent": total,
        "accepted": len(accepted),
        "offered_rate": rate,
        "achieved_rate": len(accepted) / elapsed,
        "ingest_p50_ms": (percentile(latencies, 50) or 0) * 1000,
        "ingest_p99_ms": (percentile(latencies, 99) or 0) * 1000,
        "statuses": statuses,
        "errors": errors,
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    modes = {"closed": closed, "open": open_loop, "bodies": bodies_run}
    result = asyncio.run(modes[cfg["mode"]](cfg))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
