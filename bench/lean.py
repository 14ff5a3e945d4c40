"""The lean reference loop (issue 14): the design's own limit on this machine, in its own process.

``python -m bench.lean '<json config>'`` (or ``@file.json``): plain asyncpg and aiohttp, nothing else. Until
SIGTERM/SIGINT:

1. claim up to ``batch`` (100) queued, due rows of the real ``whatsapp_messages`` table in one statement (a CTE
   ``SELECT … ORDER BY due_at LIMIT 100 FOR UPDATE SKIP LOCKED`` feeding ``UPDATE … SET status='sending'``, lease
   owner and expiry, in one transaction);
2. send each to the Graph URL (``/{version}/{number}/messages``, the same template body the service sends,
   ``biz_opaque_callback_data`` included) over one aiohttp session, at most ``in_flight`` at once (the
   dispatcher's ``WHATSAPP_MAX_IN_FLIGHT`` / ``DISPATCH_CONCURRENCY``, 16 by default);
3. mark the batch sent in one statement (``UPDATE … FROM unnest(ids, wamids, numbers)``: status, wamid, number,
   ``sent_at``, attempts + 1, lease cleared); a failed send goes back to ``queued``;
4. claim again at once; when nothing is due, wait for the dispatch ``NOTIFY`` (LISTEN, like the dispatchers) or
   1 s.

The number of each message comes from the ``numbers`` map (tenant → phone number id), like the tenant settings
the dispatcher reads. At exit it prints JSON: messages sent, failures, batches, its busy window (first claim →
last mark), msg/s over it and its CPU seconds (``time.process_time()``: user + system) over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from bakery_shared.graph_versions import DEFAULT_GRAPH_API_VERSION

CLAIM = """
WITH picked AS (
    SELECT id FROM whatsapp_messages
    WHERE status = 'queued' AND due_at <= $1
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE whatsapp_messages AS m
SET status = 'sending', lease_owner = $3, lease_expires_at = $4, updated_at = $1
FROM picked
WHERE m.id = picked.id
RETURNING m.id, m.tenant_id, m.recipient_phone, m.template_name, m.requested_language, m.template_values
"""

MARK_SENT = """
UPDATE whatsapp_messages AS m
SET status = 'sent', wamid = v.wamid, phone_number_id = v.number, language = v.language, sent_at = $4,
    updated_at = $4, attempts = m.attempts + 1, lease_owner = NULL, lease_expires_at = NULL
FROM unnest($1::text[], $2::text[], $3::text[], $6::text[]) AS v(id, wamid, number, language)
WHERE m.id = v.id AND m.lease_owner = $5
"""

RETURN = """
UPDATE whatsapp_messages SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY($1::text[]) AND lease_owner = $3
"""

CHANNEL = "notification_dispatch"  # notification_service.wakeup.CHANNEL (not imported: the loop stays lean)


def dsn_of(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def body_parameters(values: Any) -> list[str]:
    if isinstance(values, str):
        values = json.loads(values)
    return [
        str(values.get("supplier_name", "")),
        str(values.get("po_number", "")),
        f"{values.get('total_amount', '')} {values.get('currency', '')}".strip(),
    ]


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    owner = f"lean-{uuid.uuid4().hex[:8]}"
    batch, in_flight = int(cfg.get("batch", 100)), int(cfg.get("in_flight", 16))
    numbers: dict[str, str] = cfg["numbers"]
    url = cfg["graph_url"].rstrip("/") + "/" + cfg.get("api_version", DEFAULT_GRAPH_API_VERSION)
    headers = {"Authorization": f"Bearer {cfg.get('token', 'bench')}", "Content-Type": "application/json"}
    stop = asyncio.Event()
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        stop.set()
        wake.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    conn = await asyncpg.connect(dsn_of(cfg["database_url"]))
    listener = await asyncpg.connect(dsn_of(cfg["database_url"]))
    await listener.add_listener(CHANNEL, lambda *_: wake.set())
    sent = failed = batches = 0
    first: float | None = None
    last = 0.0
    cpu_first = cpu_last = 0.0
    gate = asyncio.Semaphore(in_flight)
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def send(row: asyncpg.Record) -> tuple[str, str | None, str]:
            number = numbers.get(str(row["tenant_id"]), "")
            language = row["requested_language"] or "es"
            parameters = [{"type": "text", "text": v} for v in body_parameters(row["template_values"])]
            payload = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": row["recipient_phone"],
                "type": "template",
                "template": {
                    "name": row["template_name"],
                    "language": {"code": language},
                    "components": [{"type": "body", "parameters": parameters}],
                },
                "biz_opaque_callback_data": f"notification:{row['id']}",
            }
            async with gate:
                try:
                    async with http.post(f"{url}/{number}/messages", data=json.dumps(payload), headers=headers) as r:
                        data = await r.json(content_type=None)
                        if r.status != 200:
                            return number, None, language
                        return number, str(data["messages"][0]["id"]), language
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError):
                    return number, None, language

        try:
            while not stop.is_set():
                now = datetime.now(UTC)
                async with conn.transaction():
                    rows = await conn.fetch(CLAIM, now, batch, owner, datetime.fromtimestamp(time.time() + 60, UTC))
                if not rows:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=1.0)
                    continue
                if first is None:
                    first, cpu_first = time.monotonic(), time.process_time()
                results = await asyncio.gather(*(send(row) for row in rows))
                ok = [(str(row["id"]), res) for row, res in zip(rows, results, strict=True) if res[1] is not None]
                bad = [str(row["id"]) for row, res in zip(rows, results, strict=True) if res[1] is None]
                at = datetime.now(UTC)
                if ok:
                    await conn.execute(
                        MARK_SENT,
                        [i for i, _ in ok],
                        [r[1] for _, r in ok],
                        [r[0] for _, r in ok],
                        at,
                        owner,
                        [r[2] for _, r in ok],
                    )
                if bad:
                    await conn.execute(RETURN, bad, at, owner)
                sent += len(ok)
                failed += len(bad)
                batches += 1
                last, cpu_last = time.monotonic(), time.process_time()
        finally:
            await listener.close()
            await conn.close()
    busy = last - first if first is not None else 0.0
    cpu = cpu_last - cpu_first if first is not None else 0.0
    return {
        "sent": sent,
        "failed": failed,
        "batches": batches,
        "busy_seconds": busy,
        "rate": sent / busy if busy > 0 else None,
        "cpu_seconds": cpu,
        "cpu_ms_per_msg": cpu / sent * 1000 if sent else None,
        "cpu_seconds_total": time.process_time(),
    }


def main() -> None:
    arg = sys.argv[1]
    if arg.startswith("@"):  # the configuration in a file
        with open(arg[1:], encoding="utf-8") as fh:
            arg = fh.read()
    print(json.dumps(asyncio.run(run(json.loads(arg)))), flush=True)


if __name__ == "__main__":
    main()
