"""Two workers bound to every address (as the image runs them), each advertising its own URL
(LIVEGATE_WEB_ADVERTISED_URL, Faust's canonical_url), static group members (as the chart runs
them): `livegate explain` asked of either worker shows every creator, those whose partition the
other worker owns included (forwarded)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka.partitioner import murmur2

from tests.conftest import ROOT
from tests.helpers import Worker, event, free_port, produce, run_cli, wait_for
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.integration


def creators_on_every_partition(partitions: int) -> list[str]:
    """One creator per partition (murmur2, as the producer places them)."""
    found: dict[int, str] = {}
    tag = uuid.uuid4().hex[:6]
    n = 0
    while len(found) < partitions:
        creator = f"adv-{tag}-{n}"
        found.setdefault((murmur2(creator.encode()) & 0x7FFFFFFF) % partitions, creator)
        n += 1
    return [found[p] for p in sorted(found)]


def advertised_worker(p: Pipeline, name: str) -> tuple[Worker, int]:
    port = free_port()
    env = {
        **p.env,
        "LIVEGATE_WEB_ADVERTISED_URL": f"http://127.0.0.1:{port}",
        # As the chart runs them: static membership under the pod's name.
        "LIVEGATE_GROUP_INSTANCE_ID": f"{p.uid}-{name}",
    }
    log = ROOT / ".livegate" / "test-logs" / f"worker-{p.uid}-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker(env, port, log).start()
    p.workers.append(worker)
    return worker, port


async def test_explain_answers_for_the_creators_of_the_other_worker(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env, True, LIVEGATE_WEB_HOST="0.0.0.0")
    try:
        p.workers.pop().stop()  # the fixture's worker advertises no URL: replace it
        (first, port1), (second, port2) = (advertised_worker(p, n) for n in ("a", "b"))
        await asyncio.to_thread(first.wait_ready, 90)
        await asyncio.to_thread(second.wait_ready, 90)
        s = p.settings
        creators = creators_on_every_partition(s.partitions)
        records = [
            (c.encode(), event("stream_started", c, f"{c}-e1", stream_id="s1", category="health"))
            for c in creators
        ]
        await produce(s, s.topics.live, records)
        await wait_for(
            s, s.topics.actions,
            lambda rs: {r.get("creator_id") for r in rs if r["action"] == "cut_off_stream"}
            >= set(creators),
            timeout=90,
        )  # fmt: skip
        for port in (port1, port2):
            for creator in creators:
                url = f"http://127.0.0.1:{port}"
                out = await asyncio.to_thread(
                    run_cli, p.env, "explain", creator, "--json", "--url", url
                )
                assert out.returncode == 0, (port, creator, out.stderr)
                view = json.loads(out.stdout)
                assert view["creator_id"] == creator
                assert view["credit"] < view["credit_max"], view  # live.unqualified deducted
    finally:
        for w in p.workers:
            w.stop()
