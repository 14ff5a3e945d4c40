"""Memory diagnostics of the soak (opt-in): ``python -m bench.tracemem <directory> <frames> <module> [args]`` runs
``<module>`` as ``__main__``; each ``SIGUSR1`` writes to ``<directory>`` a census of what the garbage collector holds
(object counts by type, and the caches suspected of growing, measured where they live: :func:`census`) and, when
``<frames>`` is not 0, a ``tracemalloc`` snapshot (tracing starts at the first signal).

With ``BENCH_TRACEMALLOC_DIR`` set (``BENCH_TRACEMALLOC_FRAMES``: 0 by default), the bench starts the soak's API
and dispatcher this way, signals them at the start of the soak, at the end of its warm-up and at its end, and
prints what grew in between (:func:`census_growth`, :func:`top_growth`). Tracing costs CPU and memory of its own
(10 frames slowed the API ~3-5 ×): the RSS figures of a traced run are not comparable with an untraced one's."""

from __future__ import annotations

import collections
import gc
import json
import os
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

ENV_DIR = "BENCH_TRACEMALLOC_DIR"
#: frames kept per allocation (0: no tracemalloc, the census only); 10 shows which of our functions a library's
#: allocation served, at ~3-5 × the CPU per allocation
ENV_FRAMES = "BENCH_TRACEMALLOC_FRAMES"


def snapshots(directory: Path, pid: int) -> list[Path]:
    """The snapshots process ``pid`` wrote so far, oldest first."""
    return sorted(directory.glob(f"*-{pid}-*.tracemalloc"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def top_growth(before: Path, after: Path, limit: int = 15, frames: int = 6) -> list[str]:
    """The ``limit`` allocation sites (their innermost ``frames`` frames) whose live size grew most between two
    snapshots, one line each plus the traceback, and the total difference first."""
    filters = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._*>")]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(filters)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(filters)
    total = sum(s.size for s in new.statistics("filename")) - sum(s.size for s in old.statistics("filename"))
    lines = [f"traced total {total / 1024:+,.0f} KiB"]
    for stat in new.compare_to(old, "traceback")[:limit]:
        lines.append(
            f"{stat.size_diff / 1024:+,.0f} KiB ({stat.count_diff:+,} blocks), now {stat.size / 1024:,.0f} KiB"
        )
        lines.extend(f"    {line.strip()}" for line in stat.traceback.format(limit=frames))
    return lines


def census() -> dict[str, Any]:
    """What the garbage collector sees (objects allocated since ``gc.freeze()``): the count of each type, and the
    caches suspected of growing, measured where they live: each pooled asyncpg connection's prepared statements
    (SQLAlchemy's per-connection LRU: their number and the characters of their SQL), the webhook processor's
    parsed payloads, a dispatcher gate's known rate keys."""
    counts: collections.Counter[str] = collections.Counter()
    caches: dict[str, list[int]] = collections.defaultdict(list)
    statements: collections.Counter[str] = collections.Counter()  # the statements cached, by their first words
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
        if kind.__name__ == "AsyncAdapt_asyncpg_connection":
            cached = list(getattr(obj, "_prepared_statement_cache", None) or ())  # their SQL texts
            caches["asyncpg connection: prepared statements"].append(len(cached))
            caches["asyncpg connection: SQL characters"].append(sum(len(sql) for sql in cached))
            statements.update(" ".join(sql.split())[:90] for sql in cached)
        elif kind.__name__ == "WebhookProcessor":
            caches["webhook processor: parsed payloads"].append(len(getattr(obj, "_parsed", ())))
        elif kind.__name__ == "Gate":
            caches["dispatch gate: known keys"].append(len(getattr(obj, "_known_keys", ())))
    caches["prepared statements: distinct first 90 characters"] = [len(statements)]
    return {"types": dict(counts.most_common(60)), "caches": caches, "statements": dict(statements.most_common(15))}


def census_growth(before: Path, after: Path, limit: int = 15) -> list[str]:
    """The object types whose count grew most between two censuses, and the suspect caches' sizes then and now."""
    if not all(p.with_suffix(".census.json").exists() for p in (before, after)):
        return ["(no census: see the process's log)"]
    old, new = (json.loads(p.with_suffix(".census.json").read_text()) for p in (before, after))
    grown = sorted(new["types"], key=lambda t: old["types"].get(t, 0) - new["types"][t])[:limit]
    lines = [f"{t}: {old['types'].get(t, 0):,} → {new['types'][t]:,}" for t in grown]
    lines += [f"{name}: {old['caches'].get(name)} → {sizes}" for name, sizes in new["caches"].items()]
    lines += [f"prepared statements (all connections) {n} × {sql}" for sql, n in new.get("statements", {}).items()]
    return lines


def main() -> None:
    where, frames, module, *rest = sys.argv[1:]
    directory = Path(where)
    directory.mkdir(parents=True, exist_ok=True)
    taken = 0

    def dump(signum: int, frame: FrameType | None) -> None:
        nonlocal taken
        taken += 1
        path = directory / f"{module}-{os.getpid()}-{taken}.tracemalloc"
        try:
            path.with_suffix(".census.json").write_text(json.dumps(census(), indent=1))
            if int(frames) and not tracemalloc.is_tracing():  # from the first signal: tracing start-up is ~10 × slower
                tracemalloc.start(int(frames))
            if tracemalloc.is_tracing():
                tracemalloc.take_snapshot().dump(str(path.with_suffix(".tmp")))
                path.with_suffix(".tmp").rename(path)  # the bench waits for this name: never a half-written file
        finally:
            if not path.exists():  # untraced, or it failed (the event loop logs why): the bench need not wait
                path.touch()

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
