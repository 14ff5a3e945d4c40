"""``make bench`` / ``python -m bench``: the notification pipeline under load, on real processes.

Phases (PostgreSQL; ingestion and drain once more on SQLite):

1. baselines, interleaved with ingestion in every repetition: a trivial FastAPI JSON endpoint under the same
   server settings and load, and the sandbox's raw accept rate with the service's own Graph client;
2. ingestion: purchase-order events accepted/s at concurrency 50 (closed loop), p50/p99;
3. drain: 20,000 queued messages over 200 tenants and 20 numbers, 1 and 2 standalone dispatchers;
4. end to end: a steady 100 events/s, "202 accepted" → "sandbox received" p50/p99, with the in-process
   dispatcher and with a standalone one (woken through LISTEN/NOTIFY; the poll interval is set to 5 s so a
   missed wake-up shows);
5. cost: SQL statements (``SQL_STATEMENT_COUNTER``), PostgreSQL commits, tenant-service calls per 1,000
   messages, peak memory (VmHWM) of every process, and a soak (``--soak`` s) for memory growth.

Every figure is the median of ``--reps`` repetitions with min–max; ratios are to baselines measured in the same
run. ``BENCH_QUICK=1`` (or ``--quick``) is a ~2-minute smoke run. Results: a table on stdout and
``bench-results/bench-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bakery_shared.launcher import ServiceProcess, free_port, stop_all
from tests.helpers import Tokens
from tests.stack import ROOT, Stack

tokens = Tokens()
RESULTS = ROOT / "bench-results"
NUMBER_BASE = 200000000000000


# ---------------------------------------------------------------------------------------------- small helpers


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS in kB from /proc/<pid>/status."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM", "VmRSS")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def proc_cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class CpuWatch:
    """Machine busy cores and our processes' cores over a phase (to spot foreign load)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.t0 = time.monotonic()
        self.busy0, self.total0 = machine_busy()
        self.own0 = sum(proc_cpu_seconds(p) for p in pids)

    def done(self, extra_own_seconds: float = 0.0) -> dict[str, float]:
        elapsed = time.monotonic() - self.t0
        busy, total = machine_busy()
        cores = os.cpu_count() or 1
        machine = (busy - self.busy0) / max(1, total - self.total0) * cores
        own = (sum(proc_cpu_seconds(p) for p in self.pids) - self.own0 + extra_own_seconds) / max(elapsed, 1e-9)
        return {"machine_busy_cores": round(machine, 2), "bench_processes_cores": round(own, 2)}


def med(values: list[float]) -> dict[str, float | None]:
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean), "n": len(clean)}


def run_json(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a helper process (load generator, raw push) and return its JSON answer; also its CPU seconds."""
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - our own modules
        [sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    data: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    data["_wall"] = time.monotonic() - started
    return data


def loadgen(cfg: dict[str, Any], env: dict[str, str], timeout: float) -> dict[str, Any]:
    return run_json(["-m", "bench.loadgen", json.dumps(cfg)], env, timeout)


# ---------------------------------------------------------------------------------------------- the stack


def seed_file(workdir: Path, numbers: int) -> Path:
    from wa_sandbox.seed import load_seed

    seed = load_seed()
    existing = seed["phone_numbers"]
    template = dict(existing[-1])
    for i in range(len(existing) + 1, numbers + 1):
        number = dict(template)
        number["id"] = str(NUMBER_BASE + i)
        number["display_phone_number"] = f"+34 612 346 {i:03d}"
        number["verified_name"] = f"Bench Bakery {i}"
        existing.append(number)
    path = workdir / "sandbox-seed.json"
    path.write_text(json.dumps(seed))
    return path


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.reps = args.reps
        self.duration = args.duration
        self.drain_messages = args.drain_messages
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-"))
        self.results: dict[str, Any] = {}
        self.numbers = [str(NUMBER_BASE + i) for i in range(1, 21)]
        self.extra: list[ServiceProcess] = []  # helper servers, stopped at the end whatever happens

    # ------------------------------------------------------------------ processes
    def make_stack(self, notification_db: str, tenant_db: str, name: str) -> Stack:
        workdir = self.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        stack = Stack(
            workdir,
            tenant_db=tenant_db,
            notification_db=notification_db,
            extra_env={
                "LOG_LEVEL": "WARNING",
                "SANDBOX_SEED_FILE": str(seed_file(workdir, 20)),
                "SANDBOX_THROUGHPUT_PER_SECOND": "1000000",
                "SANDBOX_PAIR_LIMIT": "1000",
                "SANDBOX_WEBHOOK_RETRY_BASE_SECONDS": "1",
                "RATE_PER_NUMBER_PER_SECOND": "80",
                "DISPATCH_POLL_INTERVAL_SECONDS": "5",
                "WHATSAPP_SYNC_ENABLED": "false",
                "SQL_STATEMENT_COUNTER": "1",
                "WHATSAPP_HTTP_TRANSPORT": self.args.transport,
                "NOTIFICATION_MIGRATE_ON_START": "false",
            },
        )
        return stack

    def start_notification(self, stack: Stack, name: str = "notification", **env: str) -> ServiceProcess:
        counter_dir = self.workdir / "sql" / f"{name}-{uuid.uuid4().hex[:6]}"
        args = ["-m", "notification_service"]
        if env.pop("_profile", None):
            args = ["-m", "pyinstrument", "-r", "text", "-o", str(RESULTS / f"profile-{name}.txt"), *args]
        proc = stack.start(
            name,
            args,
            f"{stack.notification_url}/health/live",
            timeout=60,
            SQL_STATEMENT_COUNTER_DIR=str(counter_dir),
            **env,
        )
        proc.counter_dir = counter_dir  # type: ignore[attr-defined]
        return proc

    def start_dispatcher(self, stack: Stack, name: str, **env: str) -> ServiceProcess:
        counter_dir = self.workdir / "sql" / f"{name}-{uuid.uuid4().hex[:6]}"
        args = ["-m", "notification_service.dispatch"]
        if env.pop("_profile", None):
            args = ["-m", "pyinstrument", "-r", "text", "-o", str(RESULTS / f"profile-{name}.txt"), *args]
        proc = stack.start(name, args, None, SQL_STATEMENT_COUNTER_DIR=str(counter_dir), **env)
        proc.counter_dir = counter_dir  # type: ignore[attr-defined]
        return proc

    @staticmethod
    def stop(proc: ServiceProcess, sig: int = signal.SIGTERM) -> dict[str, Any]:
        """Stop a process; its peak memory and the SQL statements it counted."""
        mem = proc_status(proc.popen.pid) if proc.popen else {}
        proc.stop(sig=sig, timeout=30)
        statements = 0
        counter_dir = getattr(proc, "counter_dir", None)
        if counter_dir is not None and Path(counter_dir).exists():
            for f in Path(counter_dir).glob("*.json"):
                statements += json.loads(f.read_text()).get("statements", 0)
        return {"vm_hwm_mb": round(mem.get("VmHWM", 0) / 1024, 1), "sql_statements": statements}

    def start_trivial(self) -> ServiceProcess:
        port = free_port()
        proc = ServiceProcess(
            "trivial",
            ["-m", "bench.apps", "trivial", str(port)],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            health_url=f"http://127.0.0.1:{port}/health/live",
            log_path=self.workdir / "trivial.log",
            cwd=ROOT,
        )
        self.extra.append(proc)
        proc.start().wait_healthy()
        proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        return proc

    def start_tenant_stub(self, tenants: dict[str, dict[str, Any]]) -> ServiceProcess:
        port = free_port()
        path = self.workdir / "stub-tenants.json"
        path.write_text(json.dumps(tenants))
        proc = ServiceProcess(
            "tenant-stub",
            ["-m", "bench.apps", "tenants", str(port), str(path)],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            health_url=f"http://127.0.0.1:{port}/health/live",
            log_path=self.workdir / "tenant-stub.log",
            cwd=ROOT,
        )
        self.extra.append(proc)
        proc.start().wait_healthy()
        proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        return proc

    def helper_env(self, stack: Stack) -> dict[str, str]:
        env = stack.env()
        env["PYTHONPATH"] = str(ROOT)
        return env

    # ------------------------------------------------------------------ tenants
    def create_tenants(self, stack: Stack, count: int) -> list[str]:
        """Real tenants through the tenant service's API, each with its own number, WhatsApp on."""
        ids = []
        with httpx.Client(timeout=30) as http:
            for i in range(count):
                r = http.post(
                    f"{stack.tenant_url}/api/v1/tenants", json={"name": f"Bench bakery {i}"}, headers=tokens.admin()
                )
                r.raise_for_status()
                tenant_id = r.json()["id"]
                r = http.post(
                    f"{stack.tenant_url}/api/v1/admin/whatsapp/tenants/{tenant_id}/assign-phone",
                    json={"phone_number_id": self.numbers[i % len(self.numbers)]},
                    headers=tokens.admin(),
                )
                r.raise_for_status()
                r = http.put(
                    f"{stack.tenant_url}/api/v1/tenants/{tenant_id}/settings/notifications",
                    json={"whatsapp_enabled": True, "whatsapp_default_language": "es"},
                    headers=tokens.owner(tenant_id),
                )
                r.raise_for_status()
                ids.append(tenant_id)
        return ids

    def stub_tenants(self, count: int) -> dict[str, dict[str, Any]]:
        out = {}
        for i in range(count):
            tenant_id = str(uuid.UUID(int=0xBE4C0000000000000000000000000000 + i))
            number = self.numbers[i % len(self.numbers)]
            out[tenant_id] = {
                "whatsapp_enabled": True,
                "whatsapp_phone_number_id": number,
                "whatsapp_display_phone_number": f"+34 612 346 {i % 20:03d}",
                "whatsapp_default_language": "es",
                "enable_po_notifications": True,
                "tenant_id": tenant_id,
                "tenant_name": f"Stub bakery {i}",
            }
        return out

    # ------------------------------------------------------------------ database helpers
    async def _db(self, url: str, fn: Any) -> Any:
        from bakery_shared.db import create_engine, create_session_factory

        os.environ.pop("SQL_STATEMENT_COUNTER", None)
        engine = create_engine(url)
        try:
            return await fn(engine, create_session_factory(engine))
        finally:
            await engine.dispose()

    def db(self, url: str, fn: Any) -> Any:
        return asyncio.run(self._db(url, fn))

    def reset_queue(self, url: str) -> None:
        import sqlalchemy as sa

        tables = [
            "whatsapp_message_attempts",
            "webhook_statuses",
            "webhook_events",
            "whatsapp_messages",
            "purchase_order_events",
            "rate_limit_state",
            "tenant_daily_recipients",
        ]

        async def go(engine: Any, _sessions: Any) -> None:
            async with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
                else:
                    for t in tables:
                        await conn.execute(sa.text(f"DELETE FROM {t}"))  # noqa: S608 - fixed names
            if engine.dialect.name == "postgresql":
                async with engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(sa.text("VACUUM ANALYZE"))

        # Late webhooks of the previous repetition may still be processed: a TRUNCATE can then deadlock with
        # them. Retry a few times instead of failing the whole run.
        for attempt in range(5):
            try:
                self.db(url, go)
                return
            except Exception as exc:  # noqa: BLE001 - sqlalchemy wraps asyncpg's DeadlockDetectedError
                if "deadlock" not in str(exc).lower() or attempt == 4:
                    raise
                time.sleep(1 + attempt)

    def fill_queue(self, url: str, tenants: list[str], count: int) -> float:
        """Queue ``count`` purchase-order messages (events + messages, exactly what ingestion writes) in one
        transaction with a NOTIFY; returns the wall-clock commit time."""
        import sqlalchemy as sa

        from notification_service.domain.decisions import KIND_PURCHASE_ORDER
        from notification_service.domain.events import PurchaseOrderEvent
        from notification_service.domain.templates import PO_NOTIFICATION
        from notification_service.models import purchase_order_events, whatsapp_messages
        from notification_service.repositories.signals import notify_in_transaction
        from notification_service.services.ingestion import new_message_values

        now = datetime.now(UTC)
        events, messages = [], []
        per_tenant = max(1, count // len(tenants))
        for k in range(count):
            t = k % len(tenants)
            r = (k // len(tenants)) % per_tenant
            event = PurchaseOrderEvent.model_validate(
                {
                    "event_id": str(uuid.uuid4()),
                    "tenant_id": tenants[t],
                    "occurred_at": now.isoformat(),
                    "purchase_order": {
                        "id": f"po-{k}",
                        "number": f"PO-{k}",
                        "total_amount": "1250.00",
                        "currency": "EUR",
                    },
                    "supplier": {"name": "Harinas Ana", "phone": f"+34{600000000 + t * 1000 + r}"},
                }
            )
            events.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": event.tenant_id,
                    "event_id": event.event_id,
                    "occurred_at": event.occurred_at,
                    "payload": event.canonical_payload(),
                    "payload_hash": event.payload_hash(),
                    "received_at": now,
                }
            )
            messages.append(
                new_message_values(
                    tenant_id=event.tenant_id,
                    event_id=event.event_id,
                    kind=KIND_PURCHASE_ORDER,
                    recipient=event.supplier.phone,
                    template_name=PO_NOTIFICATION,
                    template_values=event.template_values(),
                    requested_language=event.supplier.language,
                    now=now,
                )
            )

        async def go(engine: Any, sessions: Any) -> float:
            async with sessions() as session, session.begin():
                for i in range(0, count, 2000):
                    await session.execute(sa.insert(purchase_order_events), events[i : i + 2000])
                    await session.execute(sa.insert(whatsapp_messages), messages[i : i + 2000])
                if engine.dialect.name == "postgresql":
                    await notify_in_transaction(session)
            return time.time()

        return float(self.db(url, go))

    def queue_progress(self, url: str) -> dict[str, Any]:
        import sqlalchemy as sa

        async def go(engine: Any, _sessions: Any) -> dict[str, Any]:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.text(
                            "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent,"
                            " count(*) FILTER (WHERE status IN ('queued', 'sending')) AS pending,"
                            " count(*) AS total, max(sent_at) AS last_sent, min(sent_at) AS first_sent"
                            " FROM whatsapp_messages"
                        )
                    )
                ).one()
                statuses = dict(
                    (
                        await conn.execute(sa.text("SELECT status, count(*) FROM whatsapp_messages GROUP BY status"))
                    ).all()
                )
            return {**row._asdict(), "statuses": statuses}

        return dict(self.db(url, go))

    def pg_commits(self, url: str) -> int:
        import sqlalchemy as sa

        async def go(engine: Any, _sessions: Any) -> int:
            async with engine.connect() as conn:
                return int(
                    (
                        await conn.execute(
                            sa.text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                        )
                    ).scalar_one()
                )

        if "postgresql" not in url:
            return 0
        time.sleep(0.6)  # the statistics collector flushes every 500 ms
        return int(self.db(url, go))

    def wait_drained(self, url: str, expected: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        progress: dict[str, Any] = {}
        while time.monotonic() < deadline:
            progress = self.queue_progress(url)
            if progress["pending"] == 0 and progress["total"] >= expected:
                return progress
            time.sleep(0.25)
        progress["timed_out"] = True
        return progress

    @staticmethod
    def sandbox_reset(stack: Stack) -> None:
        """Cancel the sandbox's webhook backlog and forget its records (between repetitions)."""
        httpx.post(f"{stack.sandbox_url}/_sandbox/reset", timeout=60).raise_for_status()

    def tenant_calls(self, stack: Stack) -> int:
        path = stack.workdir / "tenant.log"
        if not path.exists():
            return 0
        return path.read_text(errors="replace").count("notification-settings")

    # ------------------------------------------------------------------ phases
    def baselines_and_ingestion(self, stack: Stack, tenants: list[str], db_name: str, reps: int) -> dict[str, Any]:
        log(f"[{db_name}] baselines and ingestion: {reps} × {self.duration}s at concurrency 50")
        trivial = self.start_trivial()
        notification = self.start_notification(stack, DISPATCHER_ENABLED="false")
        env = self.helper_env(stack)
        cfg = {"mode": "closed", "concurrency": 50, "duration": self.duration, "warmup": 2, "tenants": tenants}
        out: dict[str, list[Any]] = {"trivial": [], "ingestion": [], "raw": [], "ratio": [], "cpu_ingestion": []}
        commits0 = self.pg_commits(stack.notification_db)
        accepted = 0
        for rep in range(reps):
            t = loadgen({**cfg, "url": f"{trivial.url}/api/v1/events/purchase-orders"}, env, self.duration + 60)  # type: ignore[attr-defined]
            watch = CpuWatch([notification.popen.pid])  # type: ignore[union-attr]
            i = loadgen(
                {
                    **cfg,
                    "url": f"{stack.notification_url}/api/v1/events/purchase-orders",
                    "headers": tokens.service(),
                    "offset": rep * 1_000_000,
                },
                env,
                self.duration + 60,
            )
            out["cpu_ingestion"].append(watch.done())
            accepted += i["ok"]
            raw = None
            if db_name == "postgresql":
                raw = run_json(
                    [
                        "-m",
                        "bench.rawpush",
                        json.dumps({"tasks": 32, "duration": self.duration, "numbers": self.numbers}),
                    ],
                    env,
                    self.duration + 60,
                )
                self.sandbox_reset(stack)
            out["trivial"].append(t)
            out["ingestion"].append(i)
            out["raw"].append(raw)
            out["ratio"].append(i["rate"] / t["rate"])
            log(
                f"  rep {rep + 1}: trivial {t['rate']:.0f}/s, ingestion {i['rate']:.0f}/s "
                f"(p50 {i['p50_ms']:.1f} ms, p99 {i['p99_ms']:.1f} ms, {i['statuses']}), ratio {out['ratio'][-1]:.2f}"
                + (f", raw sandbox {raw['rate']:.0f}/s rtt p50 {raw['rtt_p50_ms']:.2f} ms" if raw else "")
            )
        commits = self.pg_commits(stack.notification_db) - commits0
        notif = self.stop(notification)
        trivial_stats = self.stop(trivial)
        summary = {
            "trivial_rate": med([x["rate"] for x in out["trivial"]]),
            "trivial_p50_ms": med([x["p50_ms"] for x in out["trivial"]]),
            "ingestion_rate": med([x["rate"] for x in out["ingestion"]]),
            "ingestion_p50_ms": med([x["p50_ms"] for x in out["ingestion"]]),
            "ingestion_p99_ms": med([x["p99_ms"] for x in out["ingestion"]]),
            "ingestion_to_trivial": med(out["ratio"]),
            "ingestion_sql_per_1000": notif["sql_statements"] / max(accepted, 1) * 1000,
            "ingestion_commits_per_1000": commits / max(accepted, 1) * 1000 if commits else None,
            "memory_mb": {"notification_api": notif["vm_hwm_mb"], "trivial": trivial_stats["vm_hwm_mb"]},
            "cpu": out["cpu_ingestion"],
            "runs": out,
        }
        if db_name == "postgresql":
            summary["raw_rate"] = med([x["rate"] for x in out["raw"]])
            summary["raw_rtt_p50_ms"] = med([x["rtt_p50_ms"] for x in out["raw"]])
            summary["raw_rtt_p99_ms"] = med([x["rtt_p99_ms"] for x in out["raw"]])
            summary["raw_loaded_p50_ms"] = med([x["loaded_p50_ms"] for x in out["raw"]])
        return summary

    def drain(self, stack: Stack, db_name: str, dispatchers: int, reps: int, profile: bool = False) -> dict[str, Any]:
        """Queue N messages for 200 tenants on 20 numbers; time how fast ``dispatchers`` processes send them."""
        count = self.drain_messages
        log(f"[{db_name}] drain: {count} messages, 200 tenants, 20 numbers, {dispatchers} dispatcher(s), {reps} rep(s)")
        stub_tenants = self.stub_tenants(200)
        stub = self.start_tenant_stub(stub_tenants)
        in_process = db_name == "sqlite"
        notification = self.start_notification(
            stack,
            DISPATCHER_ENABLED="true" if in_process else "false",
            TENANT_SERVICE_URL=stub.url,  # type: ignore[attr-defined]
        )
        runs = []
        for rep in range(reps):
            self.reset_queue(stack.notification_db)
            self.sandbox_reset(stack)
            procs = []
            if not in_process:
                for d in range(dispatchers):
                    extra = {"_profile": "1"} if profile and d == 0 else {}
                    procs.append(
                        self.start_dispatcher(
                            stack,
                            f"dispatcher-{dispatchers}-{d}",
                            TENANT_SERVICE_URL=stub.url,
                            **extra,  # type: ignore[attr-defined]
                        )
                    )
                time.sleep(3)  # imports, LISTEN connection, first (empty) claim
            calls0 = httpx.get(f"{stub.url}/_stats").json()["settings"]  # type: ignore[attr-defined]
            commits0 = self.pg_commits(stack.notification_db)
            pids = [p.popen.pid for p in procs if p.popen] + [notification.popen.pid, stack.procs["sandbox"].popen.pid]  # type: ignore[union-attr]
            watch = CpuWatch(pids)
            t0 = self.fill_queue(stack.notification_db, list(stub_tenants), count)
            progress = self.wait_drained(stack.notification_db, count, timeout=max(120, count / 100))
            cpu = watch.done()
            commits = self.pg_commits(stack.notification_db) - commits0
            last_sent = progress.get("last_sent")
            if isinstance(last_sent, str):  # SQLite returns text for max() of a datetime column
                last_sent = datetime.fromisoformat(last_sent).replace(tzinfo=UTC)
            last = last_sent.timestamp() if last_sent else time.time()
            rate = progress["sent"] / max(last - t0, 1e-6)
            stopped = [self.stop(p, signal.SIGINT if profile else signal.SIGTERM) for p in procs]
            calls = httpx.get(f"{stub.url}/_stats").json()["settings"] - calls0  # type: ignore[attr-defined]
            run = {
                "rate": rate,
                "sent": progress["sent"],
                "statuses": progress["statuses"],
                "seconds": last - t0,
                "timed_out": progress.get("timed_out", False),
                "tenant_calls": calls,
                "tenant_calls_per_1000": calls / max(progress["sent"], 1) * 1000,
                "dispatcher_sql_per_1000": sum(s["sql_statements"] for s in stopped) / max(progress["sent"], 1) * 1000
                if stopped
                else None,
                "commits_per_1000": commits / max(progress["sent"], 1) * 1000 if commits else None,
                "dispatcher_vm_hwm_mb": [s["vm_hwm_mb"] for s in stopped],
                "cpu": cpu,
            }
            runs.append(run)
            log(
                f"  rep {rep + 1}: {run['sent']} sent in {run['seconds']:.1f}s = {rate:.0f}/s; statuses "
                f"{run['statuses']}; tenant calls {calls}; SQL/1000 {run['dispatcher_sql_per_1000']}; cpu {cpu}"
            )
        notif = self.stop(notification)
        self.stop(stub)
        self.sandbox_reset(stack)
        return {
            "dispatchers": dispatchers,
            "in_process": in_process,
            "rate": med([r["rate"] for r in runs]),
            "tenant_calls_per_1000": med([r["tenant_calls_per_1000"] for r in runs]),
            "distinct_tenants": 200,
            "dispatcher_sql_per_1000": med([r["dispatcher_sql_per_1000"] for r in runs]),
            "commits_per_1000": med([r["commits_per_1000"] for r in runs]),
            "notification_api_sql_total": notif["sql_statements"],
            "memory_mb": {
                "notification_api": notif["vm_hwm_mb"],
                "dispatchers": [m for r in runs for m in r["dispatcher_vm_hwm_mb"]],
            },
            "runs": runs,
        }

    def e2e(self, stack: Stack, tenants: list[str], mode: str, reps: int, rate: float) -> dict[str, Any]:
        """Steady ``rate`` events/s; latency from the 202 to the sandbox's receive timestamp."""
        log(f"[e2e] {mode}: {rate:.0f} events/s for {self.duration}s, {reps} rep(s)")
        in_process = mode == "in-process"
        notification = self.start_notification(stack, DISPATCHER_ENABLED="true" if in_process else "false")
        dispatcher = None if in_process else self.start_dispatcher(stack, "dispatcher-e2e")
        time.sleep(2)
        env = self.helper_env(stack)
        calls0 = self.tenant_calls(stack)
        commits0 = self.pg_commits(stack.notification_db)
        runs, total = [], 0
        for rep in range(reps):
            self.sandbox_reset(stack)
            out = self.workdir / f"e2e-{mode}-{rep}.json"
            result = loadgen(
                {
                    "mode": "open",
                    "rate": rate,
                    "duration": self.duration,
                    "tenants": tenants,
                    "url": f"{stack.notification_url}/api/v1/events/purchase-orders",
                    "headers": tokens.service(),
                    "offset": 5_000_000 + rep * 100_000 + (0 if in_process else 50_000),
                    "out": str(out),
                },
                env,
                self.duration + 120,
            )
            accepted = {f"notification:{nid}": at for nid, at in json.loads(out.read_text())}
            received: dict[str, float] = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                records = httpx.get(f"{stack.sandbox_url}/_sandbox/messages", timeout=60).json()
                received = {
                    r["biz_opaque_callback_data"]: r["timestamp"]
                    for r in records
                    if r.get("biz_opaque_callback_data") in accepted
                }
                if len(received) >= len(accepted):
                    break
                time.sleep(0.5)
            latencies = sorted((received[k] - accepted[k]) * 1000 for k in received)
            total += len(received)
            from bench.loadgen import percentile

            run = {
                "accepted": len(accepted),
                "received": len(received),
                "achieved_rate": result["achieved_rate"],
                "p50_ms": percentile(latencies, 50),
                "p99_ms": percentile(latencies, 99),
                "max_ms": latencies[-1] if latencies else None,
                "ingest_p50_ms": result["ingest_p50_ms"],
                "statuses": result["statuses"],
            }
            runs.append(run)
            log(
                f"  rep {rep + 1}: {run['received']}/{run['accepted']} received; e2e p50 {run['p50_ms']:.1f} ms, "
                f"p99 {run['p99_ms']:.1f} ms (202 p50 {run['ingest_p50_ms']:.1f} ms)"
            )
        commits = self.pg_commits(stack.notification_db) - commits0
        stopped = [self.stop(dispatcher)] if dispatcher else []
        notif = self.stop(notification)
        sql = notif["sql_statements"] + sum(s["sql_statements"] for s in stopped)
        return {
            "mode": mode,
            "rate": rate,
            "p50_ms": med([r["p50_ms"] for r in runs]),
            "p99_ms": med([r["p99_ms"] for r in runs]),
            "sql_per_1000": sql / max(total, 1) * 1000,
            "commits_per_1000": commits / max(total, 1) * 1000 if commits else None,
            "tenant_calls": self.tenant_calls(stack) - calls0,
            "tenant_calls_per_1000": (self.tenant_calls(stack) - calls0) / max(total, 1) * 1000,
            "distinct_tenants": len(tenants),
            "memory_mb": {"notification_api": notif["vm_hwm_mb"], "dispatcher": [s["vm_hwm_mb"] for s in stopped]},
            "runs": runs,
        }

    def soak(self, stack: Stack, tenants: list[str], seconds: float, rate: float) -> dict[str, Any]:
        log(f"[soak] {seconds:.0f}s at {rate:.0f} events/s: API with its dispatcher + one standalone dispatcher")
        notification = self.start_notification(stack, "notification-soak", DISPATCHER_ENABLED="true")
        dispatcher = self.start_dispatcher(stack, "dispatcher-soak")
        procs = {
            "notification_api": notification.popen.pid,  # type: ignore[union-attr]
            "dispatcher": dispatcher.popen.pid,  # type: ignore[union-attr]
            "tenant": stack.procs["tenant"].popen.pid,  # type: ignore[union-attr]
            "sandbox": stack.procs["sandbox"].popen.pid,  # type: ignore[union-attr]
        }
        self.sandbox_reset(stack)
        env = self.helper_env(stack)
        gen = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                json.dumps(
                    {
                        "mode": "open",
                        "rate": rate,
                        "duration": seconds,
                        "tenants": tenants,
                        "url": f"{stack.notification_url}/api/v1/events/purchase-orders",
                        "headers": tokens.service(),
                        "offset": 9_000_000,
                    }
                ),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        samples: list[dict[str, Any]] = []
        began = time.monotonic()
        while gen.poll() is None:
            time.sleep(5)
            samples.append(
                {
                    "t": round(time.monotonic() - began),
                    **{k: proc_status(p).get("VmRSS", 0) // 1024 for k, p in procs.items()},
                }
            )
            # the sandbox keeps every send and webhook in memory by design: forget them as we go
            with contextlib.suppress(httpx.HTTPError):
                httpx.delete(f"{stack.sandbox_url}/_sandbox/messages", timeout=10)
                httpx.delete(f"{stack.sandbox_url}/_sandbox/webhooks", timeout=10)
        result = json.loads(gen.communicate()[0].decode().strip().splitlines()[-1])
        progress = self.wait_drained(stack.notification_db, 0, timeout=60)
        growth = {}
        if len(samples) >= 3:
            ref = samples[len(samples) // 3]
            end = samples[-1]
            for k in procs:
                growth[k] = {
                    "rss_mb_at_third": ref[k],
                    "rss_mb_end": end[k],
                    "growth_pct": round((end[k] - ref[k]) / max(ref[k], 1) * 100, 1),
                }
        self.stop(dispatcher)
        self.stop(notification)
        log(f"  soak: {result['accepted']} accepted, growth {growth}")
        return {
            "seconds": seconds,
            "rate": rate,
            "accepted": result["accepted"],
            "statuses": progress.get("statuses"),
            "growth": growth,
            "samples": samples,
        }


# ---------------------------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def fmt(stat: dict[str, Any] | None, unit: str = "", digits: int = 0) -> str:
    if not stat or stat.get("median") is None:
        return "n/a"
    m, lo, hi = stat["median"], stat["min"], stat["max"]
    return f"{m:,.{digits}f}{unit} ({lo:,.{digits}f}–{hi:,.{digits}f})"


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    pg = results.get("postgresql", {})
    ing = pg.get("ingestion", {})
    raw_rate = (ing.get("raw_rate") or {}).get("median")
    rtt = (ing.get("raw_rtt_p50_ms") or {}).get("median")
    if ing:
        rows.append(("baseline 1: trivial FastAPI endpoint, c=50", fmt(ing["trivial_rate"], "/s"), ""))
        rows.append(
            ("baseline 2: sandbox raw accept rate (Graph client, 32 tasks)", fmt(ing.get("raw_rate"), "/s"), "")
        )
        rows.append(
            (
                "baseline 2: sandbox raw round trip p50 / p99 (1 task)",
                fmt(ing.get("raw_rtt_p50_ms"), " ms", 2),
                fmt(ing.get("raw_rtt_p99_ms"), " ms", 2),
            )
        )
        ratio = ing["ingestion_to_trivial"]
        goal = "met" if ratio["median"] is not None and ratio["median"] >= 0.25 else "NOT met"
        rows.append(("ingestion PG, c=50: events accepted/s", fmt(ing["ingestion_rate"], "/s"), ""))
        rows.append(
            ("ingestion PG: p50 / p99", fmt(ing["ingestion_p50_ms"], " ms", 1), fmt(ing["ingestion_p99_ms"], " ms", 1))
        )
        rows.append(("ingestion PG / trivial (goal ≥ 0.25)", fmt(ratio, "", 3), goal))
    for key in ("drain_1", "drain_2"):
        d = pg.get(key)
        if not d:
            continue
        r = d["rate"]["median"]
        target = min(1600, 0.7 * raw_rate) if raw_rate else 1600
        goal = ""
        if key == "drain_2":
            goal = f"goal ≥ {target:,.0f}/s: " + ("met" if r and r >= target else "NOT met")
        rows.append((f"drain PG, {d['dispatchers']} dispatcher(s): msg/s", fmt(d["rate"], "/s"), goal))
        if raw_rate:
            rows.append(
                (f"drain PG, {d['dispatchers']} dispatcher(s) / sandbox raw", f"{r / raw_rate:.2f}" if r else "n/a", "")
            )
        rows.append(
            (
                f"drain PG, {d['dispatchers']} d.: tenant calls per 1,000 msg (200 tenants)",
                fmt(d["tenant_calls_per_1000"], "", 1),
                "goal ≤ 200: " + ("met" if (d["tenant_calls_per_1000"]["median"] or 0) <= 200 else "NOT met"),
            )
        )
        rows.append(
            (
                f"drain PG, {d['dispatchers']} d.: dispatcher SQL statements / commits per 1,000 msg",
                fmt(d["dispatcher_sql_per_1000"]),
                fmt(d["commits_per_1000"]),
            )
        )
    for key in ("e2e_in-process", "e2e_standalone"):
        e = pg.get(key)
        if not e:
            continue
        p50 = e["p50_ms"]["median"]
        goal = (
            f"goal ≤ 5 × RTT = {5 * rtt:.1f} ms: " + ("met" if p50 is not None and p50 <= 5 * rtt else "NOT met")
            if rtt
            else ""
        )
        rows.append(
            (
                f"e2e PG {e['mode']} dispatcher, {e['rate']:.0f}/s: p50 / p99",
                fmt(e["p50_ms"], " ms", 1),
                fmt(e["p99_ms"], " ms", 1),
            )
        )
        rows.append((f"e2e PG {e['mode']}: p50 / raw RTT p50", f"{p50 / rtt:.1f}×" if p50 and rtt else "n/a", goal))
        rows.append(
            (
                f"e2e PG {e['mode']}: SQL statements / commits per 1,000 msg (all processes)",
                f"{e['sql_per_1000']:,.0f}",
                f"{e['commits_per_1000'] or 0:,.0f}",
            )
        )
        rows.append(
            (
                f"e2e PG {e['mode']}: tenant-service calls per 1,000 msg ({e['distinct_tenants']} tenants)",
                f"{e['tenant_calls_per_1000']:.1f}",
                f"{e['tenant_calls']} calls",
            )
        )
    soak = pg.get("soak")
    if soak:
        for k, g in soak["growth"].items():
            rows.append(
                (
                    f"soak {soak['seconds']:.0f}s: {k} RSS at 1/3 → end",
                    f"{g['rss_mb_at_third']} → {g['rss_mb_end']} MB",
                    f"{g['growth_pct']:+.1f} %",
                )
            )
    mem = []
    if ing:
        mem.append(f"notification API (ingestion) {ing['memory_mb']['notification_api']} MB")
    for key in ("drain_1", "drain_2"):
        if pg.get(key):
            mem.append(f"dispatchers ({key}) max {max(pg[key]['memory_mb']['dispatchers'] or [0])} MB")
    if mem:
        rows.append(("peak memory VmHWM", "; ".join(mem), ""))
    sq = results.get("sqlite", {})
    if sq.get("ingestion"):
        s = sq["ingestion"]
        rows.append(
            (
                "ingestion SQLite, c=50: events/s (ratio to trivial)",
                fmt(s["ingestion_rate"], "/s"),
                fmt(s["ingestion_to_trivial"], "", 3),
            )
        )
    if sq.get("drain_1"):
        rows.append(("drain SQLite, in-process dispatcher: msg/s", fmt(sq["drain_1"]["rate"], "/s"), ""))
    width = max(len(r[0]) for r in rows) if rows else 10
    lines = [f"{'measure'.ljust(width)} | median (min–max) | note", "-" * (width + 40)]
    lines += [f"{a.ljust(width)} | {b} | {c}" for a, b, c in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    quick_env = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", default=quick_env, help="~2-minute smoke run (BENCH_QUICK=1)")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per load run")
    parser.add_argument("--drain-messages", type=int, default=None)
    parser.add_argument("--soak", type=float, default=float(os.environ.get("SOAK") or 60), help="soak seconds (SOAK)")
    parser.add_argument("--e2e-rate", type=float, default=100.0)
    parser.add_argument("--transport", default=os.environ.get("WHATSAPP_HTTP_TRANSPORT", "aiohttp"))
    parser.add_argument("--only", default="", help="comma list: ingestion,drain,e2e,soak,sqlite")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the API (ingestion) and one dispatcher")
    args = parser.parse_args()
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.drain_messages is None:
        args.drain_messages = 4000 if args.quick else 20000
    if args.quick and not os.environ.get("SOAK") and "--soak" not in sys.argv:
        args.soak = 10.0
    only = set(filter(None, args.only.split(",")))

    def want(name: str) -> bool:
        return not only or name in only

    from tests.conftest import create_postgres_database, drop_postgres_database

    RESULTS.mkdir(exist_ok=True)
    bench = Bench(args)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items()},
        "postgresql": {},
        "sqlite": {},
    }
    log(f"workdir {bench.workdir}; {results['machine']}")
    began = time.monotonic()

    # ---------------------------------------------------------------- PostgreSQL
    if want("ingestion") or want("drain") or want("e2e") or want("soak"):
        tenant_db, notification_db = create_postgres_database(), create_postgres_database()
        stack = bench.make_stack(notification_db, tenant_db, "pg")
        try:
            stack.migrate()
            stack.start_sandbox()
            stack.start_tenant(LOG_LEVEL="INFO")
            tenants = bench.create_tenants(stack, 20)
            pg = results["postgresql"]
            if want("ingestion"):
                pg["ingestion"] = bench.baselines_and_ingestion(stack, tenants, "postgresql", args.reps)
                if args.profile:
                    notification = bench.start_notification(
                        stack, "notification-profile", DISPATCHER_ENABLED="false", _profile="1"
                    )
                    loadgen(
                        {
                            "mode": "closed",
                            "concurrency": 50,
                            "duration": args.duration,
                            "warmup": 1,
                            "tenants": tenants,
                            "url": f"{stack.notification_url}/api/v1/events/purchase-orders",
                            "headers": tokens.service(),
                        },
                        bench.helper_env(stack),
                        args.duration + 60,
                    )
                    bench.stop(notification, signal.SIGINT)
            if want("drain"):
                pg["drain_1"] = bench.drain(stack, "postgresql", 1, args.reps, profile=args.profile)
                pg["drain_2"] = bench.drain(stack, "postgresql", 2, args.reps)
            if want("e2e"):
                bench.reset_queue(notification_db)
                pg["e2e_in-process"] = bench.e2e(stack, tenants, "in-process", args.reps, args.e2e_rate)
                pg["e2e_standalone"] = bench.e2e(stack, tenants, "standalone", args.reps, args.e2e_rate)
            if want("soak") and args.soak > 0:
                bench.reset_queue(notification_db)
                pg["soak"] = bench.soak(stack, tenants, args.soak, args.e2e_rate)
            pg["tenant_service_vm_hwm_mb"] = proc_status(stack.procs["tenant"].popen.pid).get("VmHWM", 0) // 1024  # type: ignore[union-attr]
            pg["sandbox_vm_hwm_mb"] = proc_status(stack.procs["sandbox"].popen.pid).get("VmHWM", 0) // 1024  # type: ignore[union-attr]
        finally:
            stop_all(bench.extra)
            stack.stop_all()
            for url in (tenant_db, notification_db):
                with contextlib.suppress(Exception):
                    drop_postgres_database(url)

    # ---------------------------------------------------------------- SQLite (once)
    if want("sqlite"):
        sq_dir = bench.workdir / "sqlite"
        sq_dir.mkdir(parents=True, exist_ok=True)
        stack = bench.make_stack(
            f"sqlite+aiosqlite:///{sq_dir / 'notification.db'}", f"sqlite+aiosqlite:///{sq_dir / 'tenant.db'}", "sqlite"
        )
        try:
            stack.migrate()
            stack.start_sandbox()
            stack.start_tenant()
            tenants = bench.create_tenants(stack, 20)
            results["sqlite"]["ingestion"] = bench.baselines_and_ingestion(stack, tenants, "sqlite", 1)
            results["sqlite"]["drain_1"] = bench.drain(stack, "sqlite", 1, 1)
        except Exception as exc:  # noqa: BLE001 - keep the PostgreSQL results
            log(f"[sqlite] failed: {exc!r}")
            results["sqlite"]["error"] = repr(exc)
        finally:
            stop_all(bench.extra)
            stack.stop_all()

    results["elapsed_seconds"] = round(time.monotonic() - began)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    print(f"\nmachine: {results['machine']}; elapsed {results['elapsed_seconds']} s; JSON: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
