"""The fault suite (marker `faults`): each scenario injects a fault into the real stack while
simulated traffic flows, then checks everything that came out (tests/faults/checker.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from pipeline.ops.stack import LocalStack
from tests.faults.conftest import Load
from tests.helpers import produce, read_all
from tests.integration.conftest import Pipeline

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def assert_clean(report) -> None:
    assert report.problems == [], "\n".join(report.problems[:20])
    assert report.distinct_decided + report.dead_letters >= report.events_in


async def test_worker_killed_mid_stream_the_other_takes_over(fresh_pipeline: Pipeline, capsys):
    p = fresh_pipeline
    p.add_worker().wait_ready()
    load = Load(p)
    task = await load.start(seconds=12, rate=150)
    await asyncio.sleep(4)
    victim = p.workers[0]
    killed_at = time.monotonic()
    os.kill(victim.proc.pid, signal.SIGKILL)
    await task
    report = await load.settle()
    say(
        capsys,
        report.line("kill -9") + f"; recovered {time.monotonic() - killed_at:.0f}s "
        "after the kill (session timeout 10 s)",
    )
    assert_clean(report)


def needs_own_stack(stack_env: dict[str, str]) -> None:
    if "LIVEGATE_STACK_DIR" not in stack_env:
        pytest.skip("the broker and Redis belong to someone else (LIVEGATE_* settings given)")


async def outage(p: Pipeline, service: str, run: asyncio.Task, hold_s: float):
    """Stop one service of the test stack 3 s into the load, for hold_s, then bring it back;
    once the load is done, returns when it was stopped, restarted and back up (ms)."""
    await asyncio.sleep(3)
    stack = LocalStack(p.settings)
    await asyncio.to_thread(stack.stop_one, service)
    stopped = time.time_ns() // 1_000_000
    await asyncio.sleep(hold_s)
    restarted = time.time_ns() // 1_000_000
    await asyncio.to_thread(stack.up)
    back = time.time_ns() // 1_000_000
    await run
    return stopped, restarted, back


async def test_broker_restarted_mid_stream(fresh_pipeline: Pipeline, stack_env, capsys):
    needs_own_stack(stack_env)
    p = fresh_pipeline
    load = Load(p)
    run = await load.start(seconds=10, rate=150)
    stopped, _, back = await outage(p, "kafka", run, hold_s=0)
    report = await load.settle()
    say(
        capsys,
        report.line("broker restart") + f"; broker back after {(back - stopped) / 1000:.0f}s",
    )
    assert p.workers[0].proc.poll() is None, "the worker should ride through a broker restart"
    assert_clean(report)


async def test_redis_stopped_for_20_seconds(fresh_pipeline: Pipeline, stack_env, capsys):
    needs_own_stack(stack_env)
    p = fresh_pipeline
    load = Load(p)
    run = await load.start(seconds=8, rate=100)
    stopped, restarted, _ = await outage(p, "redis", run, hold_s=20)
    report = await load.settle()
    decisions = await read_all(p.settings, p.settings.topics.decisions)
    during = [d for d in decisions if stopped + 1000 < d["decided_at"] < restarted]
    say(
        capsys, report.line("redis down 20s") + f"; decisions made while it was down: {len(during)}"
    )
    assert during == [], "decided without the certification table"
    assert_clean(report)


async def test_redis_down_longer_than_a_rebalance_with_two_workers(
    fresh_pipeline: Pipeline, stack_env, capsys
):
    """Issue 12 item 12: while both workers wait for Redis, the group rebalances (one of
    them dies); the survivor's batches fetched before must not be decided or written by it
    as their old owner when Redis returns. Every event decided (re-emissions identical),
    chains intact. Before the bulk consumer's acks (pipeline/adapters/faust/fetching.py) a
    few hundred of
    about 4,000 records were lost in one run of two: acks made between the revocation and
    the seek that ends recovery were committed past records nobody decided."""
    needs_own_stack(stack_env)
    p = fresh_pipeline
    p.add_worker().wait_ready()
    load = Load(p)
    run = await load.start(seconds=30, rate=100)
    await asyncio.sleep(3)
    stack = LocalStack(p.settings)
    await asyncio.to_thread(stack.stop_one, "redis")
    await asyncio.sleep(4)
    victim, survivor = p.workers
    os.kill(victim.proc.pid, signal.SIGKILL)  # the rebalance happens while batches wait
    await asyncio.sleep(20)  # past the session timeout (10 s): the group has rebalanced
    await asyncio.to_thread(stack.up)
    await run
    report = await load.settle()
    fenced = fenced_records(survivor)
    say(capsys, report.line("redis down 27s, a worker dies") + f"; records fenced {fenced}")
    assert survivor.proc.poll() is None, "the surviving worker died or hung"
    # The survivor keeps its own partitions (nothing of theirs is fenced: dropping their
    # waiting batches would lose them) and takes the dead one's from its committed offsets.
    assert_clean(report)


def fenced_records(worker) -> float:
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read()
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("livegate_fenced_records_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_frozen_worker_resumed_emits_only_identical_records(fresh_pipeline: Pipeline, capsys):
    p = fresh_pipeline
    p.add_worker().wait_ready()
    load = Load(p)
    task = await load.start(seconds=25, rate=100)
    await asyncio.sleep(3)
    frozen = p.workers[0]
    os.kill(frozen.proc.pid, signal.SIGSTOP)
    await asyncio.sleep(15)  # past the 10 s session timeout: its partitions move
    os.kill(frozen.proc.pid, signal.SIGCONT)
    await task
    report = await load.settle()
    exited = frozen.proc.poll()
    say(
        capsys,
        report.line("SIGSTOP 15s") + f"; the frozen worker "
        f"{'exited on resume (code ' + str(exited) + ')' if exited is not None else 'went on'}",
    )
    assert_clean(report)


async def test_the_same_batch_delivered_twice(fresh_pipeline: Pipeline, capsys):
    p = fresh_pipeline
    load = Load(p, seed=5)
    await load.grant()
    await load.run(seconds=2, rate=200)
    batch = list(load.sent)
    await produce(
        p.settings,
        p.settings.topics.live,
        [(e["creator_id"].encode(), e) for e in batch if e["type"].startswith("stream")],
    )
    await produce(
        p.settings,
        p.settings.topics.commerce,
        [(e["creator_id"].encode(), e) for e in batch if e["type"].startswith("product")],
    )
    await produce(
        p.settings,
        p.settings.topics.reports,
        [(e["creator_id"].encode(), e) for e in batch if e["type"] == "report"],
    )
    report = await load.settle()
    say(capsys, report.line("batch twice"))
    assert_clean(report)
    assert report.duplicate_decisions == 0 and report.duplicate_actions == 0
