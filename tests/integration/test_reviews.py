"""Reviews, appeals and lifting on the real stack (CONTRACT §9): verdicts in on
moderation.reviews, lifting actions out, the restrictions snapshot and queue items on
their compacted topics, `livegate explain` agreeing with the snapshot, and `replay verify`
re-deciding all of it exactly."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from typing import Any

import pytest

from pipeline.ops.registry import Registry, build_change, grant_fields, revoke_fields
from tests.helpers import event, now_ms, produce, read_all, run_cli, wait_for
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration
DAY = 86_400_000
YEAR = 365 * DAY


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def started_at(pipeline: Pipeline) -> int:
    return now_ms()


async def send(p: Pipeline, topic: str, *events: dict) -> None:
    await produce(p.settings, topic, [(e["creator_id"].encode(), e) for e in events])


async def verdict(p: Pipeline, creator: str, eid: str, type_: str, **fields: Any) -> None:
    await send(p, p.settings.topics.reviews, event(type_, creator, eid, **fields))


async def actions_until(p: Pipeline, creator: str, done) -> list[dict]:
    records = await wait_for(
        p.settings, p.settings.topics.actions,
        lambda rs: done([r for r in rs if r.get("creator_id") == creator]),
    )  # fmt: skip
    return [r for r in records if r.get("creator_id") == creator]


def of(actions: list[dict], action: str, **match: Any) -> list[dict]:
    return [a for a in actions if a["action"] == action
            and all(a.get(k) == v for k, v in match.items())]  # fmt: skip


async def decided(p: Pipeline, eid: str) -> dict:
    records = await wait_for(
        p.settings, p.settings.topics.decisions, lambda rs: any(r["event_id"] == eid for r in rs)
    )
    return next(r for r in records if r["event_id"] == eid)


async def queue_item(p: Pipeline, key: str, status: str) -> dict:
    """The item of queue key `key` (CONTRACT §12: `creator_id:kind:id`) once in `status`."""
    records = await wait_for(
        p.settings, p.settings.topics.queue,
        lambda rs: any(r.key == key.encode() and r["status"] == status for r in rs),
    )  # fmt: skip
    return [r for r in records if r.key == key.encode()][-1]


async def dead_letter(p: Pipeline, creator: str, eid: str) -> dict:
    records = await wait_for(
        p.settings, p.settings.topics.dlq,
        lambda rs: any(eid in (r.get("value") or "") and r["key"] == creator for r in rs),
    )  # fmt: skip
    return next(r for r in records if eid in (r.get("value") or ""))


def explain(p: Pipeline, creator: str, *extra: str) -> Any:
    url = f"http://127.0.0.1:{p.workers[0].web_port}"
    result = run_cli(p.env, "explain", creator, "--url", url, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in extra else result.stdout


async def snapshot_matches_explain(p: Pipeline, creator: str, updated_at: int) -> dict:
    """The latest snapshot (once it is the one for `updated_at`) agrees with `explain`."""
    records = await wait_for(
        p.settings, p.settings.topics.restrictions,
        lambda rs: any(r.key == creator.encode() and r["updated_at"] == updated_at for r in rs),
    )  # fmt: skip
    snap = [r for r in records if r.key == creator.encode()][-1]
    view = await asyncio.to_thread(explain, p, creator, "--json")
    r = view["restrictions"]
    assert snap["credit"] == view["credit"]
    assert snap["banned_until"] == r.get("banned_until")
    assert snap["recommendation_limited_until"] == r.get("recommendation_limited_until")
    assert snap["commerce_revoked"] == r["commerce_revoked"]
    assert set(snap) >= {"creator_id", "platform", "decided_at", "policy_version"}
    # Each restriction in force is explained by the decision that imposed it.
    kinds = {i["action"] for i in view["in_force"]}
    assert ("ban_account" in kinds) == (snap["banned_until"] is not None)
    assert ("limit_recommendation" in kinds) == (snap["recommendation_limited_until"] is not None)
    assert ("revoke_commerce" in kinds) == bool(snap["commerce_revoked"])
    return view


async def metric(p: Pipeline, name: str, predicate, timeout: float = 20) -> float:
    """Poll the worker's /metrics until the sample `name` (with labels) satisfies predicate."""
    url = f"http://127.0.0.1:{p.workers[0].web_port}/metrics"
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while True:
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        found = re.search(rf"^{re.escape(name)} (\S+)$", text.decode(), re.MULTILINE)
        value = float(found[1]) if found else None
        if value is not None and predicate(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} = {value}")
        await asyncio.sleep(0.5)


async def flagged_suspect(p: Pipeline, c: str) -> tuple[dict, dict, int]:
    ts = now_ms()
    await send(p, p.settings.topics.live, event(
        "stream_started", c, f"{c}-s1", ts, stream_id="s1", category="gaming",
        title="ask a doctor about your symptoms"))  # fmt: skip
    acts = await actions_until(p, c, lambda a: len(a) >= 2)
    flag, limit = of(acts, "flag_for_review")[0], of(acts, "limit_recommendation")[0]
    item = await queue_item(p, f"{c}:review:{flag['action_id']}", "open")
    assert (item["kind"], item["rule_id"], item["domain"], item["stream_id"]) == (
        "review",
        "live.suspected",
        "health",
        "s1",
    )
    assert item["opened_at"] == ts and item["creator_id"] == c
    assert limit["until"] == ts + 24 * 3600 * 1000
    return flag, limit, ts


async def test_a_confirmed_review_cuts_off_and_deducts(pipeline: Pipeline, started_at):
    p, c = pipeline, cid("confirm")
    flag, _, ts = await flagged_suspect(p, c)
    view = await snapshot_matches_explain(p, c, ts)
    assert [i["rule_id"] for i in view["in_force"]] == ["live.suspected"]
    assert view["open_reviews"][0]["review_id"] == flag["action_id"]
    # The worker follows the queue topic: the open review shows in its metrics.
    await metric(p, 'livegate_queue_open_items{kind="review"}', lambda v: v >= 1)
    await metric(p, 'livegate_queue_oldest_open_age_seconds{kind="review"}', lambda v: v > 0)
    assert await metric(p, "livegate_review_sla_seconds", lambda v: True) == 1800

    vts = now_ms()
    await verdict(
        p,
        c,
        f"{c}-v1",
        "review_decided",
        ts=vts,
        review_id=flag["action_id"],
        verdict="confirm",
        reviewer_id="rev-7",
        note="medical advice, no licence",
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "warn")))
    assert of(acts, "cut_off_stream", rule_id="review.confirmed", stream_id="s1")
    (deduct,) = of(acts, "deduct_credit", rule_id="review.confirmed")
    assert (deduct["points"], deduct["credit_after"]) == (4, 8)
    assert set(deduct["evidence"]) == {f"{c}-v1", f"{c}-s1"}
    item = await queue_item(p, f"{c}:review:{flag['action_id']}", "closed")
    assert (item["verdict"], item["reviewer_id"], item["closed_at"]) == ("confirm", "rev-7", vts)
    assert item["note"] == "medical advice, no licence"
    await metric(p, 'livegate_queue_time_to_verdict_seconds_count{kind="review"}',
                 lambda v: v >= 1)  # fmt: skip
    view = await snapshot_matches_explain(p, c, vts)
    assert view["credit"] == 8 and view["open_reviews"] == []
    # Newest first: the 7-day credit limit, then the suspected stream's 24 h one.
    assert [i["rule_id"] for i in view["in_force"]] == [
        "credit.limit_recommendation",
        "live.suspected",
    ]
    text = await asyncio.to_thread(explain, p, c)
    assert "credit 8 of 12" in text and "[credit.limit_recommendation]" in text

    # A second verdict on the closed item: decided allow, nothing changes.
    await verdict(
        p,
        c,
        f"{c}-v2",
        "review_decided",
        review_id=flag["action_id"],
        verdict="dismiss",
        reviewer_id="rev-8",
    )
    again = await decided(p, f"{c}-v2")
    assert again["outcome"] == "allow" and again["action_ids"] == []


async def test_a_dismissed_review_lifts_the_limit(pipeline: Pipeline):
    p, c = pipeline, cid("dismiss")
    flag, limit, _ = await flagged_suspect(p, c)
    vts = now_ms()
    await verdict(
        p,
        c,
        f"{c}-v1",
        "review_decided",
        ts=vts,
        review_id=flag["action_id"],
        verdict="dismiss",
        reviewer_id="rev-7",
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "lift_recommendation_limit")))
    (lift,) = of(acts, "lift_recommendation_limit")
    assert lift["lifts"] == [limit["action_id"]] and lift["rule_id"] == "review.dismissed"
    assert not of(acts, "deduct_credit")
    assert (await decided(p, f"{c}-v1"))["outcome"] == "enforce"
    view = await snapshot_matches_explain(p, c, vts)
    assert view["credit"] == 12 and view["in_force"] == []


async def test_bad_verdicts_and_appeals_are_dead_letters(pipeline: Pipeline):
    p, c = pipeline, cid("badref")
    await verdict(
        p,
        c,
        f"{c}-unknown",
        "review_decided",
        review_id="f" * 64,
        verdict="confirm",
        reviewer_id="rev-1",
    )
    await verdict(p, c, f"{c}-noreviewer", "review_decided", review_id="f" * 64, verdict="confirm")
    await verdict(p, c, f"{c}-notmine", "appeal_filed", appeal_id=f"{c}-a", action_id="0" * 64)
    unknown = await dead_letter(p, c, f"{c}-unknown")
    assert unknown["error"] == "unknown_reference" and "no review item" in unknown["detail"]
    schema = await dead_letter(p, c, f"{c}-noreviewer")
    assert schema["error"] == "schema" and "reviewer_id" in schema["detail"]
    appeal = await dead_letter(p, c, f"{c}-notmine")
    assert appeal["error"] == "unknown_reference" and "no enforcing action" in appeal["detail"]
    assert appeal["topic"] == p.settings.topics.reviews


async def test_a_ban_appealed_and_overturned(pipeline: Pipeline):
    p, c = pipeline, cid("ban")
    now = now_ms()
    # A: 12 -> 8. B, 20 days later: escalated to severe, 10 (8 + 2 recovered) -> 0, through
    # every threshold (limit, commerce revoked, ban).
    a_ts, b_ts = now - 40 * DAY, now - 20 * DAY
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-a", a_ts, stream_id="s1", category="health"),
        event("stream_started", c, f"{c}-b", b_ts, stream_id="s2", category="health"),
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "ban_account")))
    (ban,) = of(acts, "ban_account")
    (revoke,) = of(acts, "revoke_commerce")
    assert ban["until"] == b_ts + 180 * DAY and revoke["until"] == b_ts + 30 * DAY
    deduct_b = of(acts, "deduct_credit", stream_id="s2")[0]
    assert (deduct_b["severity"], deduct_b["credit_after"]) == ("severe", 0)

    await verdict(
        p,
        c,
        f"{c}-appeal",
        "appeal_filed",
        ts=now,
        appeal_id=f"{c}-ap",
        action_id=ban["action_id"],
        statement="I was not live that day",
    )
    item = await queue_item(p, f"{c}:appeal:{c}-ap", "open")
    assert (item["kind"], item["action_id"], item["rule_id"]) == (
        "appeal",
        ban["action_id"],
        "credit.ban_account",
    )
    assert (await decided(p, f"{c}-appeal"))["outcome"] == "allow"

    vts = now_ms()
    await verdict(
        p,
        c,
        f"{c}-overturn",
        "appeal_decided",
        ts=vts,
        appeal_id=f"{c}-ap",
        verdict="overturn",
        reviewer_id="rev-2",
    )
    # One decision's three actions: a reader may see the first before the others are in.
    lifting = ("restore_credit", "lift_ban", "restore_commerce")
    acts = await actions_until(p, c, lambda a: all(of(a, kind) for kind in lifting))
    (restore,) = of(acts, "restore_credit")
    assert (restore["points"], restore["credit_after"]) == (10, 12)  # the exact figure
    assert restore["lifts"] == [deduct_b["action_id"]]
    assert of(acts, "lift_ban")[0]["lifts"] == [ban["action_id"]]
    commerce = of(acts, "restore_commerce")[0]
    assert commerce["lifts"] == [revoke["action_id"]]
    assert sorted(commerce["surfaces"]) == ["live", "short_video", "showcase"]
    assert (await queue_item(p, f"{c}:appeal:{c}-ap", "closed"))["verdict"] == "overturn"
    view = await snapshot_matches_explain(p, c, vts)
    assert view["credit"] == 12 and view["in_force"] == [] and view["deductions"][0]["points"] == 4

    # A later decision is no longer escalated by the overturned deduction (A is 40 days old).
    cts = now_ms()
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-c", cts, stream_id="s3", category="health"),
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "deduct_credit", stream_id="s3")))
    later = of(acts, "deduct_credit", stream_id="s3")[0]
    assert (later["severity"], later["points"], later["credit_after"]) == ("serious", 4, 8)
    await snapshot_matches_explain(p, c, cts)


async def test_an_overturn_leaves_what_another_decision_imposed(pipeline: Pipeline):
    p, c = pipeline, cid("keeps")
    _, suspect_limit, _ = await flagged_suspect(p, c)
    ts = now_ms()
    await send(
        p,
        p.settings.topics.live,
        event("stream_started", c, f"{c}-s2", ts, stream_id="s2", category="health"),
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "cut_off_stream")))
    cut = of(acts, "cut_off_stream")[0]
    await verdict(
        p, c, f"{c}-appeal", "appeal_filed", appeal_id=f"{c}-ap", action_id=cut["action_id"]
    )
    await queue_item(p, f"{c}:appeal:{c}-ap", "open")
    vts = now_ms()
    await verdict(
        p,
        c,
        f"{c}-overturn",
        "appeal_decided",
        ts=vts,
        appeal_id=f"{c}-ap",
        verdict="overturn",
        reviewer_id="rev-3",
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "restore_credit")))
    assert of(acts, "restore_credit")[0]["credit_after"] == 12
    # The 7-day limit it imposed ends, but the suspected stream's 24 h limit stays.
    assert not of(acts, "lift_recommendation_limit")
    view = await snapshot_matches_explain(p, c, vts)
    assert view["restrictions"]["recommendation_limited_until"] == suspect_limit["until"]
    assert [i["action_id"] for i in view["in_force"]] == [suspect_limit["action_id"]]


async def test_a_physicians_revocation_ends_when_the_qualification_does(pipeline: Pipeline):
    p, c = pipeline, cid("physician")
    t = now_ms()
    fields = grant_fields(c, "health", f"L-{c}", "NHC", t - 1000, t + YEAR, "physician", t)
    await Registry(p.settings).apply_and_publish([build_change(fields)])
    lts = now_ms()
    await send(p, p.settings.topics.commerce, event(
        "product_linked", c, f"{c}-l1", lts, link_id="l1", product_id="p1",
        surface="showcase", product_category="general"))  # fmt: skip
    acts = await actions_until(p, c, lambda a: bool(of(a, "revoke_commerce")))
    (revoke,) = of(acts, "revoke_commerce")
    assert (revoke["until"], revoke["while_qualified"], revoke["duration_s"]) == (
        None,
        "health",
        None,
    )
    view = await snapshot_matches_explain(p, c, lts)
    assert set(view["restrictions"]["commerce_revoked"].values()) == {"while_qualified"}
    assert view["in_force"][0]["until"] == "while_qualified"

    rts = now_ms()
    await Registry(p.settings).apply_and_publish(
        [build_change(revoke_fields(c, "health", "licence withdrawn", rts))]
    )
    acts = await actions_until(p, c, lambda a: bool(of(a, "restore_commerce")))
    (restore,) = of(acts, "restore_commerce")
    assert restore["lifts"] == [revoke["action_id"]]
    assert restore["rule_id"] == "commerce.medical_personnel"
    assert sorted(restore["surfaces"]) == ["live", "short_video", "showcase"]
    view = await snapshot_matches_explain(p, c, rts)
    assert view["restrictions"]["commerce_revoked"] == {} and view["in_force"] == []


def test_explain_of_an_unknown_creator_is_one_clear_line(pipeline: Pipeline):
    url = f"http://127.0.0.1:{pipeline.workers[0].web_port}"
    result = run_cli(pipeline.env, "explain", cid("nobody"), "--url", url)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("livegate: error: creator ") and result.stderr.count("\n") == 1
    down = run_cli(pipeline.env, "explain", "x", "--url", "http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach a worker" in down.stderr


async def test_replay_verify_re_decides_all_of_it(pipeline: Pipeline, started_at):
    """Last in the module: every decision above, verdicts and lifts included."""
    p = pipeline
    # The period is by event time: the ban case's events are 40 and 20 days old.
    start, end = started_at - 41 * DAY, now_ms() + 1
    decisions = await read_all(p.settings, p.settings.topics.decisions)
    assert {"review_decided", "appeal_filed", "appeal_decided", "certification_revoked"} <= {
        d["event_type"] for d in decisions
    }
    assert all(start <= d["event_ts"] < end for d in decisions)
    result = await asyncio.to_thread(
        run_cli, p.env, "replay", "verify", "--from", str(start), "--to", str(end)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checked = int(re.search(r"decisions checked:\s+([\d,]+)", result.stdout)[1].replace(",", ""))
    assert checked == len(decisions), result.stdout
    assert re.search(r"mismatches:\s+0\b", result.stdout), result.stdout
