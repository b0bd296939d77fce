"""Trust on the real stack (CONTRACT §12, issue 22): only reviewers decide verdicts, only
LiveGate's records count, and appeals follow facts the creator cannot set.

Each test drives the running worker through its topics and asserts on what came out:
dead letters, actions, decision records, queue keys, and the command line's output."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic

from pipeline.adapters.kafka import client_kwargs, topic_differences
from pipeline.domain.audit import seal
from pipeline.domain.signing import sign
from tests.helpers import event, now_ms, produce, read_all, run_cli, signed, wait_for
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration
DAY = 86_400_000


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


async def send(p: Pipeline, topic: str, *events: dict) -> None:
    await produce(p.settings, topic, [(e["creator_id"].encode(), e) for e in events])


async def actions_of(p: Pipeline, creator: str, done) -> list[dict]:
    records = await wait_for(
        p.settings,
        p.settings.topics.actions,
        lambda rs: done([r for r in rs if r.get("creator_id") == creator]),
    )
    return [r for r in records if r.get("creator_id") == creator]


async def dead_letters(p: Pipeline, creator: str, n: int) -> list[dict]:
    records = await wait_for(
        p.settings,
        p.settings.topics.dlq,
        lambda rs: sum(r["key"] == creator for r in rs) >= n,
        timeout=30,
    )
    return [r for r in records if r["key"] == creator]


async def decided(p: Pipeline, creator: str, eid: str) -> dict:
    records = await wait_for(
        p.settings,
        p.settings.topics.decisions,
        lambda rs: any(r["event_id"] == eid and r["creator_id"] == creator for r in rs),
    )
    return next(r for r in records if r["event_id"] == eid and r["creator_id"] == creator)


async def unqualified_stream(p: Pipeline, c: str, ts: int | None = None) -> list[dict]:
    """A stream in health by a creator without the qualification: cut off, deducted."""
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-s1", ts or now_ms(), stream_id="s1", category="health"),
    )
    return await actions_of(p, c, lambda a: any(x["action"] == "deduct_credit" for x in a))


async def flagged(p: Pipeline, c: str) -> dict:
    await send(
        p,
        p.settings.topics.live,
        event(
            "stream_started",
            c,
            f"{c}-s1",
            now_ms(),
            stream_id="s1",
            category="gaming",
            title="ask a doctor about your symptoms",
        ),
    )
    acts = await actions_of(p, c, lambda a: any(x["action"] == "flag_for_review" for x in a))
    return next(a for a in acts if a["action"] == "flag_for_review")


def of(actions: list[dict], action: str) -> list[dict]:
    return [a for a in actions if a["action"] == action]


# --- 1. Verdicts are authenticated where they take effect ------------------------------


async def test_unauthenticated_verdicts_change_nothing_and_a_signed_one_takes_effect(
    pipeline: Pipeline,
):
    p, c = pipeline, cid("sig")
    flag = await flagged(p, c)
    base: dict[str, Any] = {
        "type": "review_decided",
        "ts": now_ms(),
        "creator_id": c,
        "review_id": flag["action_id"],
        "verdict": "confirm",
        "reviewer_id": "mallory",
    }
    forged = [
        ({**base, "event_id": f"{c}-unsigned"}, "no `signature`"),
        (
            sign({**base, "event_id": f"{c}-wrong", "role": "senior"}, "dev", "guessed"),
            "does not verify",
        ),
        (
            sign({**base, "event_id": f"{c}-keyid", "role": "senior"}, "k-unknown", "x"),
            "does not hold",
        ),
        ({**signed({**base, "event_id": f"{c}-tamper"}), "verdict": "dismiss"}, "does not verify"),
        (signed({**base, "event_id": f"{c}-role", "role": "trainee"}), "role 'trainee'"),
    ]
    await send(p, p.settings.topics.reviews, *(e for e, _ in forged))
    dead = await dead_letters(p, c, len(forged))
    by_event = {json.loads(d["value"])["event_id"]: d for d in dead}
    for e, detail in forged:
        d = by_event[e["event_id"]]
        assert d["error"] == "unauthenticated" and detail in d["detail"], (e["event_id"], d)
    # Nothing took effect: no review.confirmed action, the item still open, no decision.
    decisions = await read_all(p.settings, p.settings.topics.decisions)
    assert not [
        r for r in decisions if r["creator_id"] == c and r["event_type"] == "review_decided"
    ]
    assert not [
        a
        for a in await read_all(p.settings, p.settings.topics.actions)
        if a.get("creator_id") == c and a["rule_id"] == "review.confirmed"
    ]

    # Signed by a reviewer's key, as the console signs: it takes effect.
    good = signed({**base, "event_id": f"{c}-good", "reviewer_id": "rev-7", "role": "reviewer"})
    await send(p, p.settings.topics.reviews, good)
    acts = await actions_of(p, c, lambda a: any(x["rule_id"] == "review.confirmed" for x in a))
    assert {a["action"] for a in acts if a["rule_id"] == "review.confirmed"} >= {"deduct_credit"}
    record = await decided(p, c, f"{c}-good")
    assert record["seal"]["key_id"] == "dev" and json.loads(record["signed"]) == good


async def file_and_decide(
    p: Pipeline, c: str, action_id: str, verdict: str, role: str, *more: dict
) -> None:
    """Appeal `ap-1` of the action, then a verdict on it signed as `role`, then `more`."""
    filed = event("appeal_filed", c, f"{c}-ap1", appeal_id="ap-1", action_id=action_id)
    decided = event(
        "appeal_decided",
        c,
        f"{c}-v1",
        appeal_id="ap-1",
        verdict=verdict,
        reviewer_id="rev-1",
        role=role,
        unsigned=True,
    )
    await send(p, p.settings.topics.reviews, filed, signed(decided), *more)


async def test_a_reviewer_may_not_decide_an_appeal(pipeline: Pipeline):
    p, c = pipeline, cid("role")
    acts = await unqualified_stream(p, c)
    await file_and_decide(p, c, of(acts, "cut_off_stream")[0]["action_id"], "overturn", "reviewer")
    (dead,) = await dead_letters(p, c, 1)
    assert dead["error"] == "unauthenticated"
    assert "role 'reviewer' may not decide appeal_decided" in dead["detail"]
    # Processed with its batch: nothing was lifted.
    assert not [
        a
        for a in await read_all(p.settings, p.settings.topics.actions)
        if a.get("creator_id") == c and a.get("lifts")
    ]


# --- 2. Only LiveGate's records count --------------------------------------------------


async def test_a_forged_record_with_a_correct_hash_is_foreign_to_verify_and_release(
    pipeline: Pipeline,
):
    p, c = pipeline, cid("forge")
    start = now_ms() - DAY
    await unqualified_stream(p, c)
    real = await decided(p, c, f"{c}-s1")
    partition = real["source"]["partition"]
    # Whoever can write enforcement.decisions appends a held "report" that continues the
    # chain (hash recomputed) and would re-send a certification grant.
    tail = [
        r
        for r in await read_all(p.settings, p.settings.topics.decisions)
        if r.partition == partition
    ]
    grant = {
        "event_id": f"{c}-grant",
        "type": "certification_granted",
        "ts": now_ms(),
        "creator_id": c,
        "domain": "health",
        "license_id": "L",
        "issuer": "me",
        "valid_from": 0,
        "valid_until": now_ms() + 365 * DAY,
    }
    body = {k: v for k, v in dict(tail[-1]).items() if k not in ("hash", "seal", "prev_hash")}
    body.update(
        event_id=f"{c}-grant",
        decision_id="f" * 64,
        event_type="report",
        held=True,
        event=grant,
        held_actions=[],
        decided_at=now_ms(),
        source={"topic": p.settings.topics.certs, "partition": partition, "offset": 0},
    )
    value, _ = seal(body, tail[-1]["hash"])  # a correct hash, no seal
    producer = AIOKafkaProducer(
        bootstrap_servers=p.settings.kafka_bootstrap, **client_kwargs(p.settings)
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            p.settings.topics.decisions, value, key=c.encode(), partition=partition
        )
    finally:
        await producer.stop()
    # The chain goes on from LiveGate's own record, not the forged one.
    await send(
        p, p.settings.topics.live, event("stream_ended", c, f"{c}-e1", now_ms(), stream_id="s1")
    )
    after = await decided(p, c, f"{c}-e1")
    assert after["prev_hash"] != json.loads(value)["hash"]

    end = now_ms() + 1
    verify = await asyncio.to_thread(
        run_cli, p.env, "replay", "verify", "--from", str(start), "--to", str(end), "--no-progress"
    )
    out = verify.stdout
    assert re.search(rf"FOREIGN\s+\S+\[{partition}\]@{meta.offset} creator {c}", out), out
    assert "seal" in out and re.search(r"chain breaks:\s+0\b", out), out
    release = await asyncio.to_thread(
        run_cli,
        p.env,
        "breaker",
        "release",
        "--from",
        str(start),
        "--to",
        str(end),
        "--dry-run",
        "--no-progress",
    )
    assert release.returncode == 0, release.stdout + release.stderr
    assert f"[{partition}]@{meta.offset}" in release.stdout
    assert "0 held decision(s) to re-send" in release.stdout and f"{c}-grant" not in release.stdout


# --- 3. The appeal window from facts the creator cannot set ----------------------------


async def test_the_reviews_topic_takes_the_brokers_time(pipeline: Pipeline):
    p, c = pipeline, cid("window")
    stamp = {"message.timestamp.type": "LogAppendTime"}
    topics = [NewTopic(t, p.settings.partitions, 1, topic_configs=stamp)
              for t in (p.settings.topics.reviews, p.settings.topics.live)]  # fmt: skip
    (live,) = await topic_differences(p.settings, topics)  # the reviews topic: none
    assert (live.topic, live.actual) == (p.settings.topics.live, "CreateTime")

    acts = await unqualified_stream(p, c)
    cut = of(acts, "cut_off_stream")[0]
    # A creator-set producer timestamp 150 days back is replaced by the broker's: the
    # decision records the append time, from which the window is measured.
    before = now_ms()
    producer = AIOKafkaProducer(
        bootstrap_servers=p.settings.kafka_bootstrap, **client_kwargs(p.settings)
    )
    filed = event("appeal_filed", c, f"{c}-ap", appeal_id="ap-1", action_id=cut["action_id"])
    early = event(
        "appeal_filed",
        c,
        f"{c}-early",
        cut["event_ts"] - 1,
        appeal_id="ap-0",
        action_id=cut["action_id"],
    )
    await producer.start()
    try:
        for e in (early, filed):
            await producer.send_and_wait(
                p.settings.topics.reviews,
                json.dumps(e).encode(),
                key=c.encode(),
                timestamp_ms=before - 150 * DAY,
            )
    finally:
        await producer.stop()
    record = await decided(p, c, f"{c}-ap")
    assert record["record_ts"] >= before
    # Dated before the action it names: refused, whatever the window.
    (dead,) = await dead_letters(p, c, 1)
    assert dead["error"] == "unknown_reference" and "outside the appeal window" in dead["detail"]
    assert json.loads(dead["value"])["event_id"] == f"{c}-early"


# --- 4. An upheld appeal is final ------------------------------------------------------


async def test_an_action_appealed_and_upheld_cannot_be_appealed_again(pipeline: Pipeline):
    p, c = pipeline, cid("final")
    acts = await unqualified_stream(p, c)
    deduct = of(acts, "deduct_credit")[0]["action_id"]
    again = event("appeal_filed", c, f"{c}-ap2", appeal_id="ap-2", action_id=deduct)
    await file_and_decide(p, c, deduct, "uphold", "senior", again)
    (dead,) = await dead_letters(p, c, 1)
    assert dead["error"] == "already_decided" and "'ap-1'" in dead["detail"]
    assert "upheld" in dead["detail"] and json.loads(dead["value"])["event_id"] == f"{c}-ap2"
    queue = await read_all(p.settings, p.settings.topics.queue)
    assert not [r for r in queue if r.key == f"{c}:appeal:ap-2".encode()]


# --- 5. Queue items keyed by creator, kind and id --------------------------------------


async def test_two_creators_appeal_1_and_a_review_of_the_same_id_are_three_items(
    pipeline: Pipeline,
):
    p = pipeline
    c1, c2 = cid("q1"), cid("q2")
    a1, a2 = await unqualified_stream(p, c1), await unqualified_stream(p, c2)
    flag = await flagged(p, c1 + "x")  # another creator's review item of its own
    appeals = [
        event("appeal_filed", c, f"{c}-ap", appeal_id="appeal-1",
              action_id=of(acts, "cut_off_stream")[0]["action_id"])
        for c, acts in ((c1, a1), (c2, a2))
    ]  # fmt: skip
    await send(p, p.settings.topics.reviews, *appeals)
    keys = {
        f"{c1}:appeal:appeal-1".encode(),
        f"{c2}:appeal:appeal-1".encode(),
        f"{c1}x:review:{flag['action_id']}".encode(),
    }
    records = await wait_for(
        p.settings, p.settings.topics.queue, lambda rs: keys <= {r.key for r in rs}
    )
    mine = {r.key: r for r in records if r.key in keys}
    assert mine[f"{c1}:appeal:appeal-1".encode()]["creator_id"] == c1
    assert mine[f"{c2}:appeal:appeal-1".encode()]["creator_id"] == c2
    assert all(r["status"] == "open" for r in mine.values())
