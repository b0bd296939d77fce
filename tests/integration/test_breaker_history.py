"""Issue 20: the breaker's fleet history in the real Redis (adapters/breakerstore.py), and
`livegate breaker seed`."""

from __future__ import annotations

import time

import pytest

from pipeline.adapters.breakerstore import BreakerHistory
from pipeline.engine.breaker import Breaker, BreakerConfig
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


async def test_two_workers_history_adds_up_and_a_new_one_reads_it(settings, redis_client):
    a, b = BreakerHistory(redis_client, settings), BreakerHistory(redis_client, settings)
    await a.add({100: 3, 101: 2}, started=90)
    await b.add({101: 4}, started=95)
    counts, started = await BreakerHistory(redis_client, settings).read(99, 102)
    assert counts == {100: 3, 101: 6} and started == 90
    ttl = await redis_client.ttl(a.key(101))
    assert 600 < ttl <= 600 + 3600


async def test_a_seeded_normal_is_what_a_new_worker_judges_by(settings, redis_client):
    history = BreakerHistory(redis_client, settings)
    now = int(time.time())
    await history.seed(100, 10, 600, now)
    breaker = Breaker(BreakerConfig(window_s=10, baseline_s=600, factor=10, floor=50))
    await breaker.sync(history)
    _, normal = breaker.rates(now)
    assert normal == pytest.approx(100, rel=0.05)
    # 150 enforcing actions in a second: above the floor, far below 10 x normal: not held.
    assert not any(breaker.record(1, now + 1) for _ in range(150))


def test_breaker_seed_on_the_command_line(settings, stack_env, uid):
    from tests.conftest import isolated_env

    env = isolated_env(stack_env, uid)
    out = run_cli(env, "breaker", "seed", "--normal", "300")
    assert out.returncode == 0, out.stderr
    assert "a normal of 300 enforcing actions per 10 s" in out.stdout
    assert "opens above 3000 per window" in out.stdout
    bad = run_cli(env, "breaker", "seed", "--normal", "-1")
    assert bad.returncode != 0 and "--normal -1" in bad.stderr
