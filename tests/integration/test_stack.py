"""`livegate stack up|status|down` on its own ports: idempotent, data survives a restart."""

from __future__ import annotations

import asyncio

import pytest
import redis

from pipeline.adapters.kafka import partitions
from pipeline.adapters.settings import TOPIC_DEFAULTS, Settings
from tests.conftest import ROOT
from tests.helpers import own_stack_env, produce, read_all, run_cli

pytestmark = pytest.mark.integration


def test_up_twice_status_down_up_keeps_data(tmp_path):
    env = own_stack_env(tmp_path / "stack")
    settings = Settings.from_env(env)
    try:
        first = run_cli(env, "stack", "up")
        assert first.returncode == 0, first.stderr
        assert (
            "kafka 3.9" in first.stdout and f"created {len(TOPIC_DEFAULTS)} topics" in first.stdout
        )
        second = run_cli(env, "stack", "up")
        assert second.returncode == 0 and "started" not in second.stdout
        status = run_cli(env, "stack", "status")
        assert status.returncode == 0
        assert status.stdout.count("running  pid") == 2
        assert asyncio.run(partitions(settings.kafka_bootstrap, "live.streams")) == [0, 1]

        r = redis.Redis.from_url(env["LIVEGATE_REDIS_URL"])
        assert r.exists("livegate:cert-loaded")  # a new stack's table is complete
        r.set("probe", "kept")
        r.close()
        asyncio.run(produce(settings, "live.streams", [(b"k", b'{"kept": true}')]))

        down = run_cli(env, "stack", "down")
        assert down.returncode == 0 and "stopped kafka" in down.stdout
        assert run_cli(env, "stack", "status").returncode == 3
        again = run_cli(env, "stack", "up")
        assert again.returncode == 0, again.stderr
        r = redis.Redis.from_url(env["LIVEGATE_REDIS_URL"])
        assert r.get("probe") == b"kept"
        r.close()
        kept = asyncio.run(read_all(settings, "live.streams"))
        assert [dict(k) for k in kept] == [{"kept": True}]
    finally:
        run_cli(env, "stack", "down", "--wipe")
    assert not (tmp_path / "stack").exists()
    assert ROOT.exists()
