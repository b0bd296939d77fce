"""`livegate tail --topic … --creator ID --since TIME` against the real broker (issue 14)."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.adapters.kafka import client_kwargs, contract_topics, ensure_topics
from tests.conftest import isolated_env
from tests.helpers import LIVEGATE, now_ms, run_cli

pytestmark = pytest.mark.e2e
HOUR = 3_600_000


async def _produce(settings, topic, rows):
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                **client_kwargs(settings))  # fmt: skip
    await producer.start()
    try:
        for key, value, ts in rows:
            await producer.send_and_wait(topic, json.dumps(value).encode(), key=key.encode(),
                                         timestamp_ms=ts)  # fmt: skip
    finally:
        await producer.stop()


def _tail(env, *args: str, lines: int, timeout: float = 30) -> list[str]:
    """The first `lines` lines `livegate tail` prints (then it is stopped)."""
    proc = subprocess.Popen([LIVEGATE, "tail", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    out: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line.rstrip("\n"))
            if len(out) >= lines:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    # A wrong filter prints more: give it a moment to show an extra line.
    time.sleep(0.5)
    proc.terminate()
    proc.wait(10)
    reader.join(5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return out


def _shadow(creator: str, event_id: str, agrees: bool) -> dict:
    return {"creator_id": creator, "event_id": event_id, "event_type": "product_linked",
            "outcome": "enforce", "rule_ids": ["commerce.medical"], "agrees": agrees,
            "decided_at": now_ms(), "active": {"outcome": "allow"}}  # fmt: skip


async def test_tail_shadow_for_one_creator_since_a_time(stack_env, uid, settings):
    await ensure_topics(settings, contract_topics(settings))
    a, b = f"a-{uid}", f"b-{uid}"
    t = now_ms()
    await _produce(settings, settings.topics.shadow, [
        (a, _shadow(a, "old", True), t - 3 * HOUR),
        (b, _shadow(b, "b1", False), t - HOUR),
        (a, _shadow(a, "new1", False), t - HOUR),
        (a, _shadow(a, "new2", True), t - 1000),
    ])  # fmt: skip
    env = isolated_env(stack_env, uid)
    out = _tail(env, "--topic", "shadow", "--creator", a, "--since", "now-2h", lines=3, timeout=20)
    assert [line.split()[5] for line in out] == ["new1", "new2"], out
    assert "SHADOW ENFORCE" in out[0] and "differs (active: allow)" in out[0]
    assert out[1].endswith("agrees")

    everything = _tail(env, "--topic", "shadow", "--from-beginning", "--json", lines=4)
    ids = [json.loads(x)["event_id"] for x in everything]
    # Two creators, two partitions: no order between them, each creator's in order.
    assert sorted(ids) == ["b1", "new1", "new2", "old"]
    assert [i for i in ids if i != "b1"] == ["old", "new1", "new2"]


def test_tail_refuses_a_bad_creator_id_and_time_before_connecting(stack_env, uid):
    env = isolated_env(stack_env, uid)
    env["LIVEGATE_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"
    r = run_cli(env, "tail", "--creator", "bad id!")
    assert r.returncode == 1 and "creator_id must be 1–128 characters" in r.stderr
    r = run_cli(env, "tail", "--since", "1700000000")
    assert r.returncode == 1 and "looks like seconds; use milliseconds 1700000000000" in r.stderr


async def test_tail_escapes_control_characters_of_stored_text(stack_env, uid, settings):
    await ensure_topics(settings, contract_topics(settings))
    c = f"esc-{uid}"
    action = {"action": "warn", "creator_id": c, "rule_id": "r\x1b[2J", "decided_at": now_ms(),
              "reason": "\x1b]0;owned\x07 \x9b31m \u202eevil\r\nsecond line"}  # fmt: skip
    await _produce(settings, settings.topics.actions, [(c, action, now_ms())])
    env = isolated_env(stack_env, uid)
    for args in ((), ("--json",)):
        (line,) = _tail(env, "--from-beginning", "--creator", c, *args, lines=1)
        assert not any(ch in line for ch in "\x1b\x07\x9b\u202e\r"), line
        if args:
            assert json.loads(line)["reason"] == action["reason"]
        else:
            assert "\\x1b]0;owned\\x07" in line and "\\r\\nsecond line" in line
