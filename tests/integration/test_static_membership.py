"""Static group membership (LIVEGATE_GROUP_INSTANCE_ID, as the chart sets the pod name): a
worker stopped and started again under the same id within the session timeout takes its
partitions back without the group rebalancing, and decides on, with nothing decided twice."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.conftest import ROOT
from tests.helpers import (
    Worker,
    about,
    free_port,
    going_live_unqualified,
    produce,
    read_all,
    wait_for,
)
from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration


async def members(bootstrap: str, group: str) -> list[str]:
    """The group's member ids as the broker holds them (a static member's starts with its
    instance id)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.to_object()["groups"]
    return [m["member_id"] for m in described["members"]]


async def test_a_worker_back_under_its_instance_id_decides_on(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env, True, LIVEGATE_PARTITIONS="2")
    try:
        p.workers.pop().stop()  # the fixture's worker is a dynamic member: replace it
        port = free_port()
        env = {**p.env, "LIVEGATE_GROUP_INSTANCE_ID": f"{p.uid}-w0"}
        log = ROOT / ".livegate" / "test-logs" / f"worker-{p.uid}-static.log"
        worker = Worker(env, port, log).start()
        p.workers.append(worker)
        await asyncio.to_thread(worker.wait_ready, 90)
        s = p.settings
        one, two = f"st-{p.uid}-1", f"st-{p.uid}-2"
        await produce(s, s.topics.live, [going_live_unqualified(one)])
        await wait_for(s, s.topics.decisions, about(one), timeout=60)

        worker.stop()  # SIGTERM: a static member does not leave the group
        again = Worker(env, port, log).start()
        p.workers.append(again)
        await asyncio.to_thread(again.wait_ready, 90)
        await produce(s, s.topics.live, [going_live_unqualified(two)])
        await wait_for(s, s.topics.decisions, about(two), timeout=60)
        # The broker knows the worker by its instance id, and by it alone.
        (member,) = await members(s.kafka_bootstrap, s.app_id)
        assert member.startswith(f"{p.uid}-w0-")
        decisions = [r for r in await read_all(s, s.topics.decisions)
                     if r.get("creator_id") in (one, two)]  # fmt: skip
        assert sorted(r["event_id"] for r in decisions) == [f"{one}-e1", f"{two}-e1"]
    finally:
        for w in p.workers:
            w.stop()
