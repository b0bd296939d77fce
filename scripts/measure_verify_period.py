"""Write a month of sealed decision history, then time `livegate replay verify` over one hour
of it and over the whole month (issue 25: verify by period costs what the period costs).

The records are real decisions (decide() of the default policy, sealed and chained as the
worker does), written with their Kafka timestamps spread over 30 days, to topics of their
own (a `mv<uid>.` prefix), beside an activation of the policy effective from 0.

    LIVEGATE_KAFKA_BOOTSTRAP=… LIVEGATE_REDIS_URL=… .venv/bin/python \
        scripts/measure_verify_period.py [--per-day 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka.partitioner import murmur2

from pipeline.adapters import kafka
from pipeline.adapters.settings import TOPIC_DEFAULTS, Settings, env_var_for_topic
from pipeline.domain.activation import new_activation
from pipeline.domain.audit import GENESIS, Source, decision_record, seal
from pipeline.domain.decide import decide
from pipeline.domain.events import StreamStarted
from pipeline.domain.policy import load_policy
from pipeline.engine.activations import publish

ROOT = Path(__file__).resolve().parent.parent
DAY = 86_400_000
HOUR = 3_600_000


async def write_month(settings: Settings, per_day: int, end: int) -> int:
    await kafka.ensure_topics(settings, kafka.contract_topics(settings))
    policy = load_policy((ROOT / "config" / "policy.yaml").read_text("utf-8"))
    await publish(settings, new_activation(policy.text, 0, "measure", end - 31 * DAY))
    partitions = settings.partitions
    heads = dict.fromkeys(range(partitions), GENESIS)
    offsets = dict.fromkeys(range(partitions), 0)
    producer = kafka.producer(settings, linger_ms=50, max_batch_size=1 << 20)
    await producer.start()
    start = end - 30 * DAY
    n = 0
    try:
        step = DAY // per_day
        futures = []
        for i in range(30 * per_day):
            ts = start + i * step
            creator = f"c{i}"
            p = (murmur2(creator.encode()) & 0x7FFFFFFF) % partitions
            ev = StreamStarted(event_id=f"{creator}-e1", ts=ts, creator_id=creator,
                               stream_id="s1", category="gaming")  # fmt: skip
            d = decide(ev, {}, None, policy, ts + 5, None, ts)
            assert d is not None
            where = Source(settings.topics.live, p, offsets[p])
            record = decision_record(ev, d, policy.version, ts + 5, where, record_ts=ts)
            offsets[p] += 1
            value, heads[p] = seal(record, heads[p], settings.seal_key)
            futures.append(await producer.send(settings.topics.decisions, value,
                                               key=creator.encode(), partition=p,
                                               timestamp_ms=ts + 5))  # fmt: skip
            n += 1
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


def timed_verify(env: dict[str, str], start: int, end: int) -> tuple[float, str]:
    began = time.perf_counter()
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "livegate"), "replay", "verify", "--from", str(start),
         "--to", str(end), "--no-progress"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return time.perf_counter() - began, out.stdout + out.stderr


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--per-day", type=int, default=2000)
    opts = args.parse_args()
    uid = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    for name in TOPIC_DEFAULTS:
        env[env_var_for_topic(name)] = f"mv{uid}.{name}"
    settings = Settings.from_env(env)
    end = (int(time.time() * 1000) // HOUR) * HOUR
    began = time.perf_counter()
    n = asyncio.run(write_month(settings, opts.per_day, end))
    print(f"wrote {n:,} sealed decisions over 30 days in {time.perf_counter() - began:.1f} s "
          f"(topics mv{uid}.*)")  # fmt: skip
    for label, (a, b) in (("one hour", (end - HOUR, end)), ("30 days", (end - 30 * DAY, end))):
        seconds, text = timed_verify(env, a, b)
        checked = next((line.strip() for line in text.splitlines() if "decisions checked" in line),
                       "?")  # fmt: skip
        read = next((line.strip() for line in text.splitlines() if "records read" in line), "?")
        ok = "OK" if "OK: every decision" in text else "FAILED"
        print(f"{label:>9}: {seconds:6.1f} s wall  {read}; {checked}; {ok}")
        if ok != "OK":
            print(text[-3000:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
