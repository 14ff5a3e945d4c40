"""Baseline 2: the sandbox's raw accept rate for template sends, with the Graph client the service uses.

``python -m bench.rawpush '<json config>'`` (environment: the same ``WHATSAPP_*`` variables as the service,
so ``WHATSAPP_HTTP_TRANSPORT`` and ``WHATSAPP_MAX_IN_FLIGHT`` apply) prints JSON: sends/s with ``tasks``
concurrent senders for ``duration`` s, and the unloaded round trip (one sender) p50/p99.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bakery_shared.graph import GraphClient
from bakery_shared.settings import WhatsAppSettings
from bench.loadgen import percentile


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    client = GraphClient.from_settings(WhatsAppSettings())
    numbers: list[str] = cfg["numbers"]
    counter = 0
    errors = 0

    async def send(latencies: list[float] | None) -> None:
        nonlocal counter, errors
        k = counter
        counter += 1
        started = time.monotonic()
        try:
            await client.send_template(
                numbers[k % len(numbers)],
                to=f"+34{700000000 + k % 100000}",
                template_name="po_notification",
                language="es",
                body_parameters=["Harinas Ana", f"PO-{k}", "1.250,00 €"],
                biz_opaque_callback_data=f"bench:{k}",
            )
        except Exception:  # noqa: BLE001 - counted
            errors += 1
            return
        if latencies is not None:
            latencies.append(time.monotonic() - started)

    async def loop(until: float, latencies: list[float] | None) -> None:
        while time.monotonic() < until:
            await send(latencies)

    try:
        await asyncio.gather(*(loop(time.monotonic() + cfg.get("warmup", 1), None) for _ in range(cfg["tasks"])))
        loaded: list[float] = []
        began = time.monotonic()
        await asyncio.gather(*(loop(began + cfg["duration"], loaded) for _ in range(cfg["tasks"])))
        elapsed = time.monotonic() - began
        rtt: list[float] = []
        await loop(time.monotonic() + cfg.get("rtt_duration", 2), rtt)
    finally:
        await client.aclose()
    return {
        "rate": len(loaded) / elapsed,
        "loaded_p50_ms": (percentile(loaded, 50) or 0) * 1000,
        "loaded_p99_ms": (percentile(loaded, 99) or 0) * 1000,
        "rtt_p50_ms": (percentile(rtt, 50) or 0) * 1000,
        "rtt_p99_ms": (percentile(rtt, 99) or 0) * 1000,
        "errors": errors,
    }


def main() -> None:
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))


if __name__ == "__main__":
    main()
