"""Reports, revocations and expiries on the real stack (CONTRACT §7, issue 4)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from pipeline.ops.registry import Registry, build_change, grant_fields, revoke_fields
from tests.helpers import event, now_ms, produce, read_all, wait_for
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


async def send(p: Pipeline, topic: str, *events: dict) -> None:
    await produce(p.settings, topic, [(e["creator_id"].encode(), e) for e in events])


async def grant(p: Pipeline, creator: str, until_ms: int, domain: str = "health") -> None:
    t = now_ms()
    fields = grant_fields(creator, domain, f"L-{creator}", "NHC", t - 1000, until_ms, None, t)
    await Registry(p.settings).apply_and_publish([build_change(fields)])


def report(c: str, n: int, reporter: str, stream: str = "s1", **kw) -> dict:
    return event(
        "report",
        c,
        f"{c}-r{n}",
        source="user",
        reporter_id=reporter,
        stream_id=stream,
        reason="unqualified_professional_content",
        **kw,
    )


async def decided(p: Pipeline, event_id: str) -> dict:
    records = await wait_for(
        p.settings,
        p.settings.topics.decisions,
        lambda rs: any(r["event_id"] == event_id for r in rs),
    )
    return next(r for r in records if r["event_id"] == event_id)


async def test_five_distinct_reporters_cut_off_an_uncertified_stream(pipeline: Pipeline):
    p, c = pipeline, cid("reported")
    title = "今天聊聊养生偏方"  # category gaming, title suspected of health
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e0", stream_id="s1", category="gaming", title=title),
    )
    # The stream is live before its reports: records of two topics have no order between
    # them (one fetch may hand the reports over first), so wait for its decision.
    await decided(p, f"{c}-e0")
    await send(p, p.settings.topics.reports, *[report(c, i, f"u{i}") for i in range(5)])
    last = await decided(p, f"{c}-r4")
    assert "reports.threshold" in last["rule_ids"]
    acts = [
        a
        for a in await read_all(p.settings, p.settings.topics.actions)
        if a["creator_id"] == c and a["rule_id"] == "reports.threshold"
    ]
    assert sorted(a["action"] for a in acts) == ["cut_off_stream", "deduct_credit"]
    assert next(a for a in acts if a["action"] == "cut_off_stream")["stream_id"] == "s1"
    assert sorted(next(a for a in acts if a["action"] == "cut_off_stream")["evidence"]) == sorted(
        f"{c}-r{i}" for i in range(5)
    )


async def test_five_reports_from_one_reporter_do_nothing(pipeline: Pipeline):
    p, c = pipeline, cid("spammed")
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e0", stream_id="s1", category="gaming", title="养生"),
    )
    await send(p, p.settings.topics.reports, *[report(c, i, "same-user") for i in range(5)])
    last = await decided(p, f"{c}-r4")
    assert last["outcome"] in ("allow", "review")
    acts = [
        a
        for a in await read_all(p.settings, p.settings.topics.actions)
        if a["creator_id"] == c and a["rule_id"] == "reports.threshold"
    ]
    assert acts == []


async def test_a_revocation_while_live_cuts_the_stream_off_within_two_seconds(pipeline: Pipeline):
    p, c = pipeline, cid("lapsing")
    await grant(p, c, now_ms() + 86_400_000)
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e0", stream_id="s1", category="health"),
    )
    assert (await decided(p, f"{c}-e0"))["outcome"] == "allow"
    revocation = build_change(revoke_fields(c, "health", "license withdrawn", now_ms()))
    await Registry(p.settings).apply_and_publish([revocation])
    d = await decided(p, revocation[1].event_id)
    assert d["rule_ids"] == ["certification.lapsed_live"]
    acts = [
        a for a in await read_all(p.settings, p.settings.topics.actions) if a["creator_id"] == c
    ]
    cut = next(a for a in acts if a["action"] == "cut_off_stream")
    assert cut["stream_id"] == "s1" and cut["rule_id"] == "certification.lapsed_live"
    assert cut["decided_at"] - revocation[1].ts < 2000


async def test_an_expiry_while_live_cuts_the_stream_off_with_no_further_event(pipeline: Pipeline):
    p, c = pipeline, cid("expiring")
    valid_until = now_ms() + 3000
    await grant(p, c, valid_until)
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e0", stream_id="s1", category="health"),
    )
    assert (await decided(p, f"{c}-e0"))["outcome"] == "allow"
    acts = await wait_for(
        p.settings,
        p.settings.topics.actions,
        lambda rs: any(a["creator_id"] == c for a in rs),
        timeout=20,
    )
    cut = next(a for a in acts if a["creator_id"] == c and a["action"] == "cut_off_stream")
    assert cut["rule_id"] == "certification.lapsed_live" and cut["stream_id"] == "s1"
    assert cut["event_ts"] == valid_until  # decided at the expiry's own event time
    assert cut["decided_at"] - valid_until < 2000


async def test_an_expiry_cuts_off_streams_whose_ids_are_not_identifiers(pipeline: Pipeline):
    # Stream ids may be any 1-256 characters; the expiry check's event id must still be valid
    # (issue 12 item 4: these became `schema` dead letters and the cut-off was lost).
    p, c = pipeline, cid("oddstreams")
    streams = ["room/1", "直播间1", "room 1"]
    valid_until = now_ms() + 4000
    await grant(p, c, valid_until)
    await send(
        p,
        p.settings.topics.live,
        *[
            event("stream_started", c, f"{c}-e{i}", stream_id=s, category="health")
            for i, s in enumerate(streams)
        ],
    )
    assert (await decided(p, f"{c}-e2"))["outcome"] == "allow"

    def cuts(rs: list) -> list:
        return [a for a in rs if a["creator_id"] == c and a["action"] == "cut_off_stream"]

    acts = await wait_for(
        p.settings, p.settings.topics.actions, lambda rs: len(cuts(rs)) >= 3, timeout=30
    )
    assert sorted(a["stream_id"] for a in cuts(acts)) == sorted(streams)
    assert {a["rule_id"] for a in cuts(acts)} == {"certification.lapsed_live"}
    dead = await read_all(p.settings, p.settings.topics.dlq)
    assert [d for d in dead if d.get("key") == c] == []


async def test_the_creator_view_shows_credit_after_a_deduction(pipeline: Pipeline):
    p, c = pipeline, cid("viewed")
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-e0", stream_id="s1", category="law"),
    )
    await decided(p, f"{c}-e0")
    port = p.workers[0].web_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/creators/{c}", timeout=10) as resp:
        view = json.load(resp)
    assert view["credit"] == 8 and view["credit_max"] == 12
    assert "live.unqualified" in view["strikes"]
    assert view["live_streams"] == {}  # cut off counts as ended
    assert "recommendation_limited_until" in view["restrictions"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/creators/nobody-{c}", timeout=10)
    assert missing.value.code == 404
    missing.value.close()
