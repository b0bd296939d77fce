"""CONTRACT §10 activation on the real stack: two workers, traffic running, a version
activated for T; every event decided by the version in force at its version clock (the
earlier of `ts` and the record's Kafka timestamp), late events and a restarted worker
included, no worker restarted for it. And what `policy activate` refuses."""

from __future__ import annotations

import asyncio
import csv
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.adapters.kafka import client_kwargs
from pipeline.domain.policy import policy_version
from tests.conftest import ROOT
from tests.helpers import event, now_ms, read_all, run_cli, wait_for
from tests.integration.conftest import Pipeline, start_pipeline
from tests.integration.test_replay import stat

pytestmark = pytest.mark.integration
BASE = (ROOT / "config" / "policy.yaml").read_text("utf-8")
HEAD = "  live.unqualified:\n"
NEW = BASE.replace(HEAD, HEAD + "    mode: 'off'\n", 1)  # the new version: the rule is off


@pytest.fixture(scope="module")
def two_workers(stack_env: dict[str, str]) -> Iterator[Pipeline]:
    p = start_pipeline(stack_env)
    p.add_worker().wait_ready()
    yield p
    for w in p.workers:
        w.stop()


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, "utf-8")
    return path


async def traffic(p: Pipeline, run: str, until: int, late_from: int, late_ts: int) -> list[str]:
    """A stream start every ~50 ms until `until` (wall clock), each of its own creator; from
    `late_from` on, every other one is late: its `ts` is `late_ts`, before the activation."""
    producer = AIOKafkaProducer(bootstrap_servers=p.settings.kafka_bootstrap, acks="all",
                                **client_kwargs(p.settings))  # fmt: skip
    await producer.start()
    ids: list[str] = []
    try:
        i = 0
        while now_ms() < until:
            c = f"act{run}-{i}"
            t = now_ms()
            ts = late_ts if t >= late_from and i % 2 else t
            body = event("stream_started", c, f"{c}-e1", ts, stream_id="s1", category="health")
            await producer.send_and_wait(p.settings.topics.live, json.dumps(body).encode(),
                                         key=c.encode())  # fmt: skip
            ids.append(f"{c}-e1")
            i += 1
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
    return ids


async def test_a_version_activated_for_t_decides_every_event_from_its_clock(
    two_workers: Pipeline, tmp_path: Path
):
    p = two_workers
    old, new = policy_version(BASE), policy_version(NEW)
    at = now_ms() + 15_000
    result = run_cli(p.env, "policy", "activate", str(write(tmp_path, "new.yaml", NEW)),
                     "--at", str(at), "--by", "itest")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{at:013d}:{new}" in result.stdout
    run = uuid.uuid4().hex[:6]
    flow = asyncio.ensure_future(traffic(p, run, at + 12_000, at + 3_000, at - 3_000))
    # A worker restarted in the middle, before T: the new one reads the versions at start.
    await asyncio.sleep(5)
    p.workers[0].stop()
    p.add_worker().wait_ready()
    ids = await flow
    got = await wait_for(
        p.settings, p.settings.topics.decisions,
        lambda rs: set(ids) <= {r.get("event_id") for r in rs}, timeout=120,
    )  # fmt: skip
    mine = {r["event_id"]: r for r in got if r.get("event_id") in set(ids)}
    counts = {"old": 0, "new": 0, "late": 0}
    for eid in ids:
        d = mine[eid]
        clock = min(d["event_ts"], d["record_ts"])
        expected = new if clock >= at else old
        assert d["policy_version"] == expected, (eid, d["event_ts"], d["record_ts"], at)
        # Old: the rule enforces; new: it is off, nothing is done.
        assert bool(d["action_ids"]) == (expected == old), eid
        counts["new" if expected == new else "old"] += 1
        counts["late"] += d["record_ts"] >= at and d["event_ts"] < at
    assert counts["old"] > 20 and counts["new"] > 20 and counts["late"] > 10, counts
    # No worker was restarted for it: the first worker still runs, and so does the second.
    assert p.workers[1].proc is not None and p.workers[1].proc.poll() is None
    history = run_cli(p.env, "policy", "history")
    assert history.returncode == 0 and old in history.stdout and new in history.stdout
    # replay verify over the period spanning the activation: every decision matches, each
    # by the version in force at its clock.
    period = ("--from", str(at - 20_000), "--to", str(now_ms()))
    verified = run_cli(p.env, "replay", "verify", *period, "--no-progress", timeout=600)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert stat(verified.stdout, "decisions checked") >= len(ids)
    assert stat(verified.stdout, "mismatches") == 0
    # whatif with the new text from 10 s before T: only events of [T - 10 s, T) change.
    out = tmp_path / "whatif"
    whatif = run_cli(p.env, "replay", "whatif", "--policy", str(tmp_path / "new.yaml"),
                     *period, "--effective-from", str(at - 10_000), "--out", str(out),
                     "--no-progress", timeout=600)  # fmt: skip
    assert whatif.returncode == 0, whatif.stderr
    with (out / "whatif.csv").open(encoding="utf-8") as fh:
        changes = [row for row in csv.DictReader(fh) if row["creator_id"].startswith(f"act{run}")]
    assert changes and {row["change"] for row in changes} == {"removed"}
    assert all(at - 10_000 <= int(row["event_ts"]) < at for row in changes)


def activations(p: Pipeline) -> int:
    return sum(
        "activation_id" in r for r in asyncio.run(read_all(p.settings, p.settings.topics.policies))
    )


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        (BASE, "now-1m", "is not later than now"),
        (BASE, "0", "not later than"),
        (BASE.replace("  live.suspected:\n", "  live.suspected:\n    mode: sometimes\n", 1),
         None, "not one of"),
        (BASE.replace("  live.suspected:\n", "  live.suspectd:\n", 1), None, "unknown key"),
    ],
)  # fmt: skip
def test_activate_refuses_bad_input_and_publishes_nothing(
    two_workers: Pipeline, tmp_path: Path, text: str, at: str | None, words: str
):
    p = two_workers
    before = activations(p)
    args = ["policy", "activate", str(write(tmp_path, "bad.yaml", text))]
    if at is not None:
        args += ["--at", at]
    result = run_cli(p.env, *args)
    assert result.returncode == 1
    assert words in result.stderr, result.stderr
    time.sleep(0.5)
    assert activations(p) == before


def test_activate_refuses_a_time_not_after_the_latest(two_workers: Pipeline, tmp_path: Path):
    p = two_workers
    path = write(tmp_path, "p.yaml", BASE)
    far = now_ms() + 3_600_000
    first = run_cli(p.env, "policy", "activate", str(path), "--at", str(far))
    assert first.returncode == 0, first.stderr
    before = activations(p)
    again = run_cli(p.env, "policy", "activate", str(path), "--at", str(far - 60_000))
    assert again.returncode == 1 and "latest activation" in again.stderr
    assert activations(p) == before


CAPPED = BASE.replace(HEAD, HEAD + "    daily_cap: 3\n", 1)


@pytest.fixture(scope="module")
def capped(stack_env: dict[str, str], tmp_path_factory) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    path = write(tmp_path_factory.mktemp("capped"), "policy.yaml", CAPPED)
    p = start_pipeline(stack_env, LIVEGATE_POLICY=str(path))
    p.add_worker().wait_ready()
    yield p
    for w in p.workers:
        w.stop()


async def test_a_daily_cap_of_3_holds_the_4th_decision_across_two_workers(capped: Pipeline):
    p = capped
    run = uuid.uuid4().hex[:6]
    creators = [f"cap{run}-{i}" for i in range(8)]
    t = now_ms()
    # Eight creators over the partitions of both workers, in two rounds.
    for half in (creators[:4], creators[4:]):
        await asyncio.gather(*(
            produce_one(p, c, event("stream_started", c, f"{c}-e1", t, stream_id="s1",
                                    category="health"))
            for c in half
        ))  # fmt: skip
    ids = {f"{c}-e1" for c in creators}
    got = await wait_for(p.settings, p.settings.topics.decisions,
                         lambda rs: ids <= {r.get("event_id") for r in rs}, timeout=60)  # fmt: skip
    mine = [r for r in got if r.get("event_id") in ids]
    enforced = [d for d in mine if not d.get("held")]
    held = [d for d in mine if d.get("held")]
    assert len(enforced) == 3 and all(d["action_ids"] for d in enforced)
    assert len(held) == 5 and {d["held"] for d in held} == {"daily_cap"}
    assert sorted(d["cap_count"] for d in held) == [4, 5, 6, 7, 8]
    actions = await read_all(p.settings, p.settings.topics.actions)
    acted = {a["creator_id"] for a in actions if a.get("creator_id") in set(creators)}
    assert acted == {d["creator_id"] for d in enforced}
    # `livegate breaker release` re-sends them; released, they are decided and enforced.
    released = run_cli(p.env, "breaker", "release", "--from", str(t - 60_000), "--to",
                       str(now_ms() + 60_000), "--yes", "--no-progress")  # fmt: skip
    assert released.returncode == 0, released.stderr
    assert "re-sent 5 held event(s)" in released.stdout
    again = {d["creator_id"] for d in held}
    await wait_for(p.settings, p.settings.topics.actions,
                   lambda rs: again <= {r.get("creator_id") for r in rs}, timeout=60)  # fmt: skip
    # The log replays: the held decisions as held (with the count they saw), the rest as made.
    verified = run_cli(p.env, "replay", "verify", "--from", str(t - 1000), "--to",
                       str(now_ms()), "--no-progress", timeout=600)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert stat(verified.stdout, "decisions checked") >= 13  # 8, then the 5 released


async def produce_one(p: Pipeline, creator: str, body: dict) -> None:
    from tests.helpers import produce

    await produce(p.settings, p.settings.topics.live, [(creator.encode(), body)])
