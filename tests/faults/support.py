"""Settings and tenants of the fault-injection stack (shared by ``conftest.py`` and the tests)."""

from __future__ import annotations

from tenant_service.seed_demo import DEMO_BAKERIES

#: Settings for a quick, fault-tolerant run: short leases and grace periods, raised rate limits, a retry budget
#: large enough that 20 % 5xx + 5 % timeouts never exhaust it (0.25^25), and quick hold probes.
FAULT_ENV = {
    "LOG_LEVEL": "WARNING",
    "DISPATCH_LEASE_SECONDS": "5",
    "DISPATCH_POLL_INTERVAL_SECONDS": "0.5",
    "DISPATCH_SHUTDOWN_GRACE_SECONDS": "2",
    "AMBIGUOUS_GRACE_SECONDS": "12",  # > the webhook lag of a 2-core burst (5-10 s seen)
    "MAX_ATTEMPTS": "25",
    "RETRY_BASE_SECONDS": "0.2",
    "RETRY_MAX_SECONDS": "2",
    "THROTTLE_BASE_SECONDS": "0.2",
    "THROTTLE_MAX_SECONDS": "2",
    "RATE_PER_NUMBER_PER_SECOND": "80",
    "RECIPIENT_MIN_INTERVAL_SECONDS": "0",
    "TENANT_DAILY_NEW_RECIPIENT_CAP": "0",
    "HOLD_PROBE_INTERVAL_SECONDS": "1",
    "HOLD_PROBE_MAX_INTERVAL_SECONDS": "2",
    "TENANT_SETTINGS_TTL_SECONDS": "1",
    "TENANT_SETTINGS_STALE_IF_ERROR_SECONDS": "0",
    "TENANT_UNAVAILABLE_RETRY_SECONDS": "1",
    "TENANT_SERVICE_TIMEOUT_SECONDS": "2",
    "WHATSAPP_HTTP_TIMEOUT_SECONDS": "3",
    "WHATSAPP_SYNC_ENABLED": "false",
    "WHATSAPP_WEBHOOK_RATE_PER_SECOND": "5000",
    "WHATSAPP_WEBHOOK_BURST": "10000",
    "WHATSAPP_WEBHOOK_SWEEP_INTERVAL_SECONDS": "2",
    "SANDBOX_THROUGHPUT_PER_SECOND": "1000",
    "SANDBOX_PAIR_REFILL_SECONDS": "0",
    "SANDBOX_STATUS_DELAY_SECONDS": "0.05",
    "SANDBOX_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "SANDBOX_WEBHOOK_RETRY_MAX_SECONDS": "3",
    "SANDBOX_WEBHOOK_MAX_ATTEMPTS": "12",
}

#: demo bakery i (0-based) sends from seed number 2000000000000{i+1:02d}
TENANTS = [(tenant_id, f"2000000000000{i:02d}") for i, (tenant_id, _) in enumerate(DEMO_BAKERIES[:10], start=1)]
