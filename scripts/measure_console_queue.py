"""The console's memory and queue-page time for a queue of N items, most of them closed
(issue 23). Not a test: it prints figures. Runs against any checkout of the console:

    .venv/bin/python scripts/measure_console_queue.py [N] [OPEN_SHARE]

It builds the console in-process (no Kafka, no Redis), applies N queue records as its
follower would, then renders the queue page (`/`) through the real handler."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from pipeline.console import web as console_web
from pipeline.console.auth import Session, parse_users
from pipeline.console.config import ConsoleSettings, ReviewSla


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))


def record(i: int, now: int, open_share: float) -> tuple[bytes, bytes]:
    name = f"{i:064x}"
    item = {
        "kind": "review", "review_id": name, "creator_id": f"creator-{i % 40_000:06d}",
        "platform": "default", "rule_id": "live.suspected", "domain": "health",
        "stream_id": f"s-{i}", "evidence": [f"ev-{i}-1", f"ev-{i}-2"],
        "reason": "The stream's title suggests health content and the creator holds no "
        "health qualification for it; flagged for a reviewer to look at.",
        "opened_at": now - (100_000 - i) * 60_000, "status": "open",
    }  # fmt: skip
    if (i * 7919) % 1000 >= open_share * 1000:
        item.update(
            status="closed",
            verdict="confirm",
            reviewer_id="alice",
            note="Gives treatment advice.",
            closed_at=now - (100_000 - i) * 30_000,
        )
    return name.encode(), json.dumps(item).encode()


async def main(n: int, open_share: float) -> None:
    cs = ConsoleSettings.from_env({"LIVEGATE_CONSOLE_SECRET": "s" * 40,
                                   "LIVEGATE_WORKER_URL": ""})  # fmt: skip
    console = console_web.Console(cs, parse_users(""), ReviewSla(30 * 60_000, True))
    now = int(time.time() * 1000)
    records = [record(i, now, open_share) for i in range(n)]
    gc.collect()
    rss0 = rss_kib()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    for key, value in records:
        console.queue.apply(key, value)
    gc.collect()
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    tracemalloc.stop()
    del records
    gc.collect()
    rss1 = rss_kib()
    app = web.Application()
    app["console"] = console
    times = []
    for _ in range(7):
        request = make_mocked_request("GET", "/", app=app)
        try:
            request["session"] = Session("alice", "n", now, 0)
        except TypeError:  # main before issue 23: a session had no epoch
            request["session"] = Session("alice", "n", now)  # type: ignore[call-arg]
        t = time.perf_counter()
        response = await console_web._queue_page(request)
        times.append((time.perf_counter() - t) * 1000)
    opened = len(
        getattr(console.queue, "open", None)
        or [i for i in console.queue.items.values() if i.get("status") == "open"]
    )  # main
    print(json.dumps({
        "items": n, "open": opened, "held_by_the_queue_view_MiB": round(held / 2**20, 1),
        "rss_growth_MiB": round((rss1 - rss0) / 1024, 1),
        "bytes_per_item": round(held / n), "page_ms_median": round(statistics.median(times), 1),
        "page_bytes": len(response.text or ""),
    }))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
                     float(sys.argv[2]) if len(sys.argv) > 2 else 0.05))  # fmt: skip
