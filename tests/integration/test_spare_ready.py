"""A spare worker (more workers than partitions) is ready: healthy, with nothing to decide,
so a Kubernetes rollout or PodDisruptionBudget does not wait for it (README "Production")."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def both_ready(ports: list[int], timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        answers = [readyz(p) for p in ports]
        if all(code == 200 for code, _ in answers):
            return [body for _, body in answers]
        if time.monotonic() > deadline:
            raise AssertionError(f"not both ready: {answers}")
        time.sleep(0.5)


async def test_the_worker_beyond_the_partition_count_is_a_ready_spare(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env, True, LIVEGATE_PARTITIONS="1")
    try:
        await asyncio.to_thread(p.add_worker().wait_ready, 90)
        bodies = await asyncio.to_thread(both_ready, [w.web_port for w in p.workers])
        details = sorted(b["checks"]["assigned"]["detail"] for b in bodies)
        # One owns the partition (of every input, output and changelog topic), one is spare.
        assert details[0].endswith(" partitions assigned"), bodies
        assert details[1] == "spare: every partition is assigned to another worker", bodies
    finally:
        for w in p.workers:
            w.stop()
