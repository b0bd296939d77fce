"""Platforms and notices on the real stack (CONTRACT §11): the same events for creators of
WeChat Channels, Douyin and Kuaishou give each platform's decisions; every action carries its
notice in zh-CN and en; the platform_mismatch dead letter; the Douyin withdrawal as a sweep of
1,000 certified medical creators, run twice; replay verify and whatif across platforms."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest
import redis

from pipeline.adapters.kafka import group_lag
from pipeline.ops.registry import Registry, build_change, grant_fields
from pipeline.ops.sweep import sweep_id
from tests.conftest import ROOT
from tests.helpers import event, now_ms, produce, read_all, run_cli, wait_for
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration
DAY = 86_400_000
YEAR = 365 * DAY
PLATFORMS = ("wechat-channels", "douyin", "kuaishou")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def started_at(pipeline: Pipeline) -> int:
    return now_ms() - 1000


async def send(p: Pipeline, topic: str, *events: dict) -> None:
    await produce(p.settings, topic, [(e["creator_id"].encode(), e) for e in events])


async def grant_health(p: Pipeline, creators: list[str], t: int) -> None:
    changes = [
        build_change(grant_fields(c, "health", f"L-{c}", "NHC", t - DAY, t + YEAR, "physician", t))
        for c in creators
    ]
    await Registry(p.settings).apply_and_publish(changes)


async def actions_of(p: Pipeline, creators: set[str], done) -> list[dict]:
    records = await wait_for(
        p.settings, p.settings.topics.actions,
        lambda rs: done([r for r in rs if r.get("creator_id") in creators]), timeout=120,
    )  # fmt: skip
    return [r for r in records if r.get("creator_id") in creators]


async def decided(p: Pipeline, event_ids: set[str]) -> None:
    await wait_for(p.settings, p.settings.topics.decisions,
                   lambda rs: event_ids <= {r["event_id"] for r in rs}, timeout=120)  # fmt: skip


def pairs(actions: list[dict], creator: str) -> list[tuple[str, str]]:
    return sorted((a["action"], a["rule_id"]) for a in actions if a["creator_id"] == creator)


def assert_notices(actions: list[dict]) -> None:
    assert actions
    for a in actions:
        notice = a.get("notice")
        assert isinstance(notice, dict) and set(notice) == {"zh-CN", "en"}, a
        for text in notice.values():  # every value these actions' notices name is known
            assert text and not PLACEHOLDER.search(text) and "—" not in text, a


async def test_a_physicians_product_link_on_each_platform(pipeline: Pipeline):
    p, t = pipeline, now_ms()
    who = {platform: cid(f"doc-{platform}") for platform in PLATFORMS}
    await grant_health(p, list(who.values()), t)
    await send(p, p.settings.topics.commerce, *(
        event("product_linked", c, f"{c}-link", t, platform=platform, link_id=f"{c}-l1",
              product_id="p1", surface="showcase", product_category="general")
        for platform, c in who.items()
    ))  # fmt: skip
    actions = await actions_of(p, set(who.values()), lambda rs: len(rs) >= 8)
    rule = "commerce.medical_personnel"
    sells_nowhere = [("remove_product_link", rule), ("revoke_commerce", rule), ("warn", rule)]
    assert pairs(actions, who["douyin"]) == sells_nowhere
    assert pairs(actions, who["wechat-channels"]) == sells_nowhere
    assert pairs(actions, who["kuaishou"]) == [("remove_product_link", rule), ("warn", rule)]
    revoke = next(a for a in actions if a["creator_id"] == who["douyin"]
                  and a["action"] == "revoke_commerce")  # fmt: skip
    assert sorted(revoke["surfaces"]) == ["live", "short_video", "showcase"]
    assert "抖音电商" in revoke["notice"]["zh-CN"]  # Douyin's own wording
    kuaishou = [a for a in actions if a["creator_id"] == who["kuaishou"]]
    assert "快手" in kuaishou[0]["notice"]["zh-CN"]
    assert {a["platform"] for a in actions if a["creator_id"] == who["kuaishou"]} == {"kuaishou"}
    assert_notices(actions)


async def test_the_same_violations_on_100_and_12_point_schemes(pipeline: Pipeline):
    p, t = pipeline, now_ms()
    who = {platform: cid(f"v-{platform}") for platform in PLATFORMS}
    for platform, c in who.items():
        await send(p, p.settings.topics.live, event(
            "stream_started", c, f"{c}-s", t, platform=platform, stream_id=f"{c}-s1",
            category="health"))  # fmt: skip
    await decided(p, {f"{c}-s" for c in who.values()})  # two topics have no order between them
    for c in who.values():  # no platform: the creator's (CONTRACT §2, §11)
        await send(p, p.settings.topics.commerce, event(
            "product_linked", c, f"{c}-drug", t + 1, link_id=f"{c}-l1", product_id="d1",
            surface="showcase", product_category="drug"))  # fmt: skip

    def complete(rs: list[dict]) -> bool:
        return sum(r["action"] == "deduct_credit" for r in rs) == 2 * len(who)

    actions = await actions_of(p, set(who.values()), complete)

    def credit(c: str) -> list[int]:
        return [a["credit_after"] for a in actions
                if a["creator_id"] == c and a["action"] == "deduct_credit"]  # fmt: skip

    assert credit(who["wechat-channels"]) == [70, 60]  # 100 - 30 serious - 10 minor
    assert credit(who["douyin"]) == [8, 6]  # 12 - 4 - 2
    assert credit(who["kuaishou"]) == [8, 6]
    for c in who.values():  # each crosses its own scheme's first threshold (70, or 8)
        limits = [a for a in actions if a["creator_id"] == c and a["rule_id"] ==
                  "credit.limit_recommendation"]  # fmt: skip
        assert len(limits) == 1
    assert {a["platform"] for a in actions if a["creator_id"] == who["kuaishou"]} == {"kuaishou"}
    assert_notices(actions)


async def test_tiered_recovery_after_7_and_30_clean_days(pipeline: Pipeline):
    """Douyin: a point per 7 clean days below 10, per 30 at or above; seen in the credit a
    later minor deduction starts from (credit_after = recovered - 2)."""
    p = pipeline
    t0 = now_ms() - 60 * DAY
    later = {6: 6, 7: 7, 13: 7, 14: 8, 43: 8, 44: 9}  # clean days -> credit_after
    who = {days: cid(f"tier{days}") for days in later}
    for c in who.values():
        await send(p, p.settings.topics.live, event(  # 12 - 4: 8
            "stream_started", c, f"{c}-s", t0, platform="douyin", stream_id=f"{c}-s1",
            category="health"))  # fmt: skip
    await decided(p, {f"{c}-s" for c in who.values()})
    for days, c in who.items():
        await send(p, p.settings.topics.commerce, event(
            "product_linked", c, f"{c}-drug", t0 + days * DAY, link_id=f"{c}-l1",
            product_id="d1", surface="showcase", product_category="drug"))  # fmt: skip

    def complete(rs: list[dict]) -> bool:
        return sum(r["action"] == "deduct_credit" for r in rs) == 2 * len(who)

    actions = await actions_of(p, set(who.values()), complete)
    for days, c in who.items():
        got = [a["credit_after"] for a in actions
               if a["creator_id"] == c and a["action"] == "deduct_credit"]  # fmt: skip
        assert got == [8, later[days]], (days, got)


async def test_another_platform_for_a_creator_is_a_platform_mismatch(pipeline: Pipeline):
    p, t = pipeline, now_ms()
    c = cid("mismatch")
    await send(
        p,
        p.settings.topics.live,
        event(
            "stream_started", c, f"{c}-s1", t, platform="douyin", stream_id="s1", category="gaming"
        ),
    )
    await send(p, p.settings.topics.live, event(
        "stream_started", c, f"{c}-s2", t + 1, platform="kuaishou", stream_id="s2",
        category="health"))  # fmt: skip
    dead = await wait_for(p.settings, p.settings.topics.dlq,
                          lambda rs: any(r.get("key") == c for r in rs))  # fmt: skip
    mine = [r for r in dead if r.get("key") == c]
    assert [r["error"] for r in mine] == ["platform_mismatch"]
    assert "'kuaishou'" in mine[0]["detail"] and "'douyin'" in mine[0]["detail"]
    decisions = await read_all(p.settings, p.settings.topics.decisions)
    assert [d["event_id"] for d in decisions if d["creator_id"] == c] == [f"{c}-s1"]
    assert [d["platform"] for d in decisions if d["creator_id"] == c] == ["douyin"]


def stat(output: str, name: str) -> int:
    found = re.search(rf"{name}:\s+([\d,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


async def idle(p: Pipeline, topic: str) -> None:
    """Until the workers' group has committed every record of `topic` (decided and acked)."""
    deadline = time.monotonic() + 120
    while True:
        lag = await group_lag(p.settings.kafka_bootstrap, p.settings.app_id, [topic])
        if lag and sum(r.lag for r in lag if r.topic == topic) == 0:
            return
        assert time.monotonic() < deadline, lag
        await asyncio.sleep(1)


async def test_the_douyin_withdrawal_as_a_sweep_of_1000_medical_creators(
    pipeline: Pipeline, started_at: int, tmp_path: Path
):
    p, t = pipeline, now_ms()
    run = uuid.uuid4().hex[:6]
    doctors = [f"dy-{run}-{i:04d}" for i in range(1000)]
    others = [f"ks-{run}-{i:02d}" for i in range(20)]  # medical, but on Kuaishou
    plain = [f"dyp-{run}-{i:02d}" for i in range(20)]  # on Douyin, not medical
    await grant_health(p, doctors + others, t)
    first = [
        event("stream_started", c, f"{c}-first", t, platform=platform, stream_id=f"{c}-s",
              category="gaming")
        for platform, group in (("douyin", doctors), ("kuaishou", others), ("douyin", plain))
        for c in group
    ]  # fmt: skip
    await send(p, p.settings.topics.live, *first)
    everyone = set(doctors) | set(others) | set(plain)
    await decided(p, {f"{c}-first" for c in everyone})
    await idle(p, p.settings.topics.live)  # the platform index is written before the ack

    args = ["policy", "sweep", "--rule", "commerce.medical_personnel", "--platform", "douyin"]
    dry = run_cli(p.env, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    count = int(re.search(r": (\d+) creators concerned", dry.stdout).group(1))
    # the creators of this test, and those of the first test's Douyin physician
    assert 1000 <= count <= 1001, dry.stdout
    assert "dry run: nothing produced" in dry.stdout
    over = run_cli(p.env, *args, "--max", "999")
    assert over.returncode == 1 and "over --max 999: nothing produced" in over.stderr
    reviews = await read_all(p.settings, p.settings.topics.reviews)
    assert not [r for r in reviews if r.get("type") == "policy_sweep"]

    done = run_cli(p.env, *args, "--max", "5000", timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"produced {count} policy_sweep events" in done.stdout
    revokes = await actions_of(
        p, set(doctors), lambda rs: sum(r["action"] == "revoke_commerce" for r in rs) >= 1000
    )
    swept = [a for a in revokes if a["action"] == "revoke_commerce"]
    assert sorted(a["creator_id"] for a in swept) == sorted(doctors)  # one per creator
    assert {a["platform"] for a in swept} == {"douyin"}
    assert all(a["while_qualified"] == "health" for a in swept)
    assert_notices(revokes)
    policy_version = re.search(r"policy ([0-9a-f]{16})", done.stdout).group(1)
    sid = sweep_id("commerce.medical_personnel", "douyin", policy_version)
    assert {a["evidence"][0] for a in swept} == {f"{sid}:{c}" for c in doctors}

    again = run_cli(p.env, *args, timeout=300)  # the same sweep: the same event ids
    assert again.returncode == 0, again.stderr
    await idle(p, p.settings.topics.reviews)
    after = [a for a in await read_all(p.settings, p.settings.topics.actions)
             if a["creator_id"] in everyone]  # fmt: skip
    assert sorted(a["action_id"] for a in after) == sorted(a["action_id"] for a in revokes)
    assert not [a for a in after if a["creator_id"] in set(others) | set(plain)]

    verify = run_cli(p.env, "replay", "verify", "--from", str(started_at), "--to",
                     str(now_ms()), "--no-progress", timeout=900)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert stat(verify.stdout, "decisions checked") >= 2000
    assert stat(verify.stdout, "mismatches") == 0, verify.stdout

    # What if Kuaishou revoked selling too: only Kuaishou's decisions change.
    k = others[0]
    await send(p, p.settings.topics.commerce, event(
        "product_linked", k, f"{k}-link", now_ms(), link_id=f"{k}-l1", product_id="p1",
        surface="showcase", product_category="general"))  # fmt: skip
    await actions_of(p, {k}, lambda rs: len(rs) == 2)
    text = (ROOT / "config" / "policy.yaml").read_text("utf-8")
    old = "        actions: [remove_product_link, warn]"
    assert text.count(old) == 1
    candidate = tmp_path / "kuaishou-revokes.yaml"
    new = (
        "        actions:\n          - remove_product_link\n"
        "          - revoke_commerce: {duration: while_qualified}\n          - warn"
    )
    candidate.write_text(text.replace(old, new), encoding="utf-8")
    whatif = run_cli(p.env, "replay", "whatif", "--policy", str(candidate), "--from",
                     str(started_at), "--out", str(tmp_path / "w"), "--no-progress",
                     "--no-drift", timeout=900)  # fmt: skip
    assert whatif.returncode == 0, whatif.stdout + whatif.stderr
    table = whatif.stdout.split("## Per platform", 1)[1].split("##", 1)[0]
    rows = dict(re.findall(r"^\| ([a-z0-9._-]+) \| (\d+ \| \d+ \| \d+) \|$", table, re.M))
    assert set(rows) == {"kuaishou"}, table
    added, removed, _ = (int(x) for x in rows["kuaishou"].split(" | "))
    assert added >= 1 and removed == 0


async def test_a_deployment_that_never_names_a_platform_can_sweep_default(pipeline: Pipeline):
    p, t = pipeline, now_ms()
    run = uuid.uuid4().hex[:6]
    doctors = [f"df-{run}-{i}" for i in range(5)]
    await grant_health(p, doctors, t)  # their first events: certification changes, no platform
    await send(p, p.settings.topics.live, *(
        event("stream_started", c, f"{c}-first", t, stream_id=f"{c}-s", category="gaming")
        for c in doctors
    ))  # fmt: skip
    await decided(p, {f"{c}-first" for c in doctors})
    await idle(p, p.settings.topics.live)
    args = ["policy", "sweep", "--rule", "commerce.medical_personnel", "--platform", "default"]
    done = run_cli(p.env, *args)
    assert done.returncode == 0, done.stderr
    assert int(re.search(r": (\d+) creators concerned", done.stdout).group(1)) >= len(doctors)
    actions = await actions_of(
        p, set(doctors), lambda rs: sum(r["action"] == "revoke_commerce" for r in rs) == 5
    )
    assert {a["platform"] for a in actions} == {"default"}
    assert_notices(actions)


async def test_a_platform_index_redis_lost_is_rebuilt_from_the_state_changelog(
    pipeline: Pipeline,
):
    """Redis lost the index entries (a failover, an older snapshot): `policy reindex` adds
    every creator back to its platform's set from the creator-state changelog, names the
    states it cannot read, and a second run adds nothing."""
    p, t = pipeline, now_ms()
    run = uuid.uuid4().hex[:6]
    groups = {
        "douyin": [f"ri-dy-{run}-{i}" for i in range(3)],
        "kuaishou": [f"ri-ks-{run}-{i}" for i in range(2)],
        "default": [f"ri-df-{run}-{i}" for i in range(2)],  # their events name no platform
    }
    await send(p, p.settings.topics.live, *(
        event("stream_started", c, f"{c}-first", t, stream_id=f"{c}-s", category="gaming",
              **({} if platform == "default" else {"platform": platform}))
        for platform, creators in groups.items() for c in creators
    ))  # fmt: skip
    everyone = [c for creators in groups.values() for c in creators]
    await decided(p, {f"{c}-first" for c in everyone})
    await idle(p, p.settings.topics.live)  # the state and the index are written before the ack
    # A state no worker could read, in the changelog (a hostile or damaged stored value).
    bad = f"ri-bad-{run}"
    changelog = f"{p.settings.app_id}-creator-state-changelog"
    await produce(p.settings, changelog, [(bad.encode(), b"\xff not a state")])

    client = redis.Redis.from_url(p.settings.redis_url.reveal(), decode_responses=True)
    key = f"{p.settings.redis_prefix}platform:"
    try:
        for platform, creators in groups.items():
            assert set(creators) <= client.smembers(key + platform), platform
            client.srem(key + platform, *creators)  # lost

        dry = run_cli(p.env, "policy", "reindex", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing added" in dry.stdout
        assert not any(client.sismember(key + "douyin", c) for c in groups["douyin"])

        done = run_cli(p.env, "policy", "reindex")
        assert done.returncode == 0, done.stderr
        for platform, creators in groups.items():
            members = client.smembers(key + platform)
            assert set(creators) <= members, (platform, done.stdout)
            others = set(everyone) - set(creators)
            assert not others & members, (platform, done.stdout)
        assert not any(client.sismember(key + p_, bad) for p_ in groups)
        assert f"states unreadable, not indexed: {bad}" in done.stdout
        assert re.search(r"douyin: \d+ in the changelog; index \d+ → \d+ \(\+3\)", done.stdout)

        again = run_cli(p.env, "policy", "reindex")
        assert again.returncode == 0, again.stderr
        added = re.findall(r"\(\+(\d+)\)", again.stdout)
        assert added and set(added) == {"0"}, again.stdout
    finally:
        client.close()


def test_reindex_of_an_app_no_worker_ran_says_so(pipeline: Pipeline):
    env = {**pipeline.env, "LIVEGATE_APP_ID": f"never-{uuid.uuid4().hex[:6]}"}
    done = run_cli(env, "policy", "reindex")
    assert done.returncode == 1
    assert "no worker of app id 'never-" in done.stderr and "nothing to index" in done.stderr
    assert "Traceback" not in done.stderr
