"""The decision pipeline end to end: contract JSON in, actions/decisions/dead letters out."""

from __future__ import annotations

import uuid

import pytest

from pipeline.ops.registry import Registry, build_change, grant_fields, revoke_fields
from tests.helpers import event, now_ms, produce, read_all, wait_for
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration
YEAR = 365 * 86_400_000


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


async def grant(p: Pipeline, creator: str, domain: str = "health", profession: str = "physician"):
    t = now_ms()
    fields = grant_fields(creator, domain, f"L-{creator}", "NHC", t - 1000, t + YEAR, profession, t)
    await Registry(p.settings).apply_and_publish([build_change(fields)])


async def send(p: Pipeline, topic: str, *events: dict) -> None:
    await produce(p.settings, topic, [(e["creator_id"].encode(), e) for e in events])


def actions_of(records: list, creator: str) -> list:
    return [r for r in records if r.get("creator_id") == creator]


async def test_unqualified_health_stream_is_cut_off_within_two_seconds(pipeline: Pipeline):
    p, c = pipeline, cid("nocert")
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e1", stream_id="s1", category="health"),
    )
    acts = actions_of(
        await wait_for(
            p.settings, p.settings.topics.actions, lambda rs: len(actions_of(rs, c)) >= 4
        ),
        c,
    )
    kinds = sorted(a["action"] for a in acts)
    # 12 - 4 = 8 crosses the first credit threshold, which adds its limit_recommendation.
    assert kinds == ["cut_off_stream", "deduct_credit", "limit_recommendation", "warn"]
    cut = next(a for a in acts if a["action"] == "cut_off_stream")
    assert cut["stream_id"] == "s1" and cut["rule_id"] == "live.unqualified"
    deduct = next(a for a in acts if a["action"] == "deduct_credit")
    assert (deduct["points"], deduct["credit_after"]) == (4, 8)
    # The system's own clock: the decision was made within 2 s of the event.
    assert cut["decided_at"] - cut["event_ts"] < 2000


async def test_qualified_creator_is_allowed_with_no_action(pipeline: Pipeline):
    p, c = pipeline, cid("doc")
    await grant(p, c)
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e1", stream_id="s1", category="health"),
    )
    decisions = await wait_for(
        p.settings,
        p.settings.topics.decisions,
        lambda rs: any(r["event_id"] == f"{c}-e1" for r in rs),
    )
    mine = next(d for d in decisions if d["event_id"] == f"{c}-e1")
    assert mine["outcome"] == "allow" and mine["action_ids"] == []
    assert mine["certifications"]["health"]["status"] == "active"
    assert actions_of(await read_all(p.settings, p.settings.topics.actions), c) == []


async def test_certified_physician_linking_a_product_loses_link_and_commerce(pipeline: Pipeline):
    p, c = pipeline, cid("physician")
    await grant(p, c)
    await send(
        p,
        p.settings.topics.commerce,
        event(
            "product_linked",
            c,
            f"{c}-e1",
            link_id="l1",
            product_id="p1",
            surface="showcase",
            product_category="general",
        ),
    )
    acts = actions_of(
        await wait_for(
            p.settings, p.settings.topics.actions, lambda rs: len(actions_of(rs, c)) >= 2
        ),
        c,
    )
    by = {a["action"]: a for a in acts}
    assert by["remove_product_link"]["link_id"] == "l1"
    assert sorted(by["revoke_commerce"]["surfaces"]) == ["live", "short_video", "showcase"]
    assert by["revoke_commerce"]["duration_s"] is None
    assert {a["rule_id"] for a in acts} == {"commerce.medical_personnel"}


async def test_a_revoked_qualification_governs_the_very_next_event(pipeline: Pipeline):
    p, c = pipeline, cid("revoked")
    await grant(p, c)
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e1", stream_id="s1", category="health"),
    )
    await wait_for(
        p.settings,
        p.settings.topics.decisions,
        lambda rs: any(r["event_id"] == f"{c}-e1" for r in rs),
    )
    await Registry(p.settings).apply_and_publish(
        [build_change(revoke_fields(c, "health", "license withdrawn", now_ms()))]
    )
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e2", stream_id="s2", category="health"),
    )
    acts = actions_of(
        await wait_for(
            p.settings,
            p.settings.topics.actions,
            lambda rs: any(a["stream_id"] == "s2" for a in actions_of(rs, c) if "stream_id" in a),
        ),
        c,
    )
    assert any(a["action"] == "cut_off_stream" and a["stream_id"] == "s2" for a in acts)


async def test_the_same_event_twice_gives_one_set_of_actions(pipeline: Pipeline):
    p, c = pipeline, cid("twice")
    e = event("stream_started", c, f"{c}-e1", stream_id="s1", category="finance")
    await send(p, p.settings.topics.live, e, e)
    marker = event("stream_ended", c, f"{c}-e2", stream_id="s9")
    await send(p, p.settings.topics.live, marker)
    decisions = await wait_for(
        p.settings,
        p.settings.topics.decisions,
        lambda rs: any(r["event_id"] == f"{c}-e2" for r in rs),
    )
    assert [d["event_id"] for d in decisions if d["creator_id"] == c] == [f"{c}-e1", f"{c}-e2"]
    acts = actions_of(await read_all(p.settings, p.settings.topics.actions), c)
    assert len(acts) == len({a["action_id"] for a in acts})
    assert [a["action"] for a in acts].count("cut_off_stream") == 1


async def test_bad_records_become_dead_letters_and_the_worker_goes_on(pipeline: Pipeline):
    p, c = pipeline, cid("bad")
    topic = p.settings.topics.live
    await produce(
        p.settings,
        topic,
        [
            (c.encode(), b'{"event_id": "x", "type": '),
            (
                c.encode(),
                {
                    "event_id": f"{c}-m",
                    "type": "stream_started",
                    "ts": now_ms(),
                    "creator_id": c,
                    "category": "health",
                },
            ),
            (c.encode(), event("stream_teleported", c, f"{c}-u", stream_id="s1")),
            (
                f"other-{c}".encode(),
                event("stream_started", c, f"{c}-k", stream_id="s1", category="law"),
            ),
        ],
    )
    dead = await wait_for(
        p.settings, p.settings.topics.dlq, lambda rs: sum(c in (r["key"] or "") for r in rs) >= 4
    )
    mine = sorted((d for d in dead if c in (d["key"] or "")), key=lambda d: d["key"] != c)
    assert [d["error"] for d in mine] == ["invalid_json", "schema", "unknown_type", "key_mismatch"]
    assert all(d["topic"] == topic and d["partition"] >= 0 for d in mine)
    assert "stream_id" in mine[1]["detail"]
    offsets = [d["offset"] for d in mine[:3]]
    assert offsets == sorted(offsets) and len(set(offsets)) == 3  # in order, one each
    # The worker keeps going: a good event after them is decided.
    await send(p, topic, event("stream_started", c, f"{c}-ok", stream_id="s2", category="law"))
    await wait_for(
        p.settings,
        p.settings.topics.decisions,
        lambda rs: any(r["event_id"] == f"{c}-ok" for r in rs),
    )
