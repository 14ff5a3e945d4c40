"""``make bench``: throughput, latency and cost benchmarks of the notification pipeline (see docs/benchmarks.md)."""
