"""CONTRACT §10 on the real stack: a rule in shadow, a 50 % rollout, an expired rule, and
the first activation a worker publishes. Checked from what the system emitted."""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.domain.policy import policy_version
from tests.conftest import ROOT
from tests.helpers import event, now_ms, produce, read_all, run_cli, wait_for
from tests.integration.conftest import Pipeline, start_pipeline
from tests.integration.test_replay import stat

pytestmark = pytest.mark.integration
BASE = (ROOT / "config" / "policy.yaml").read_text("utf-8")
EXPIRES_AT = 1_790_000_000_000  # 2026-09-21: events before it fire, from it on not


def lifecycle_text() -> str:
    """The default policy with live.unqualified in shadow, commerce.unqualified_product at a
    50 % rollout, and live.suspected expiring at EXPIRES_AT."""
    text = BASE
    for rule, extra in [
        ("live.unqualified", "    mode: shadow\n"),
        ("commerce.unqualified_product", "    rollout: {percent: 50, salt: itest}\n"),
        ("live.suspected", f"    expires_at: {EXPIRES_AT}\n"),
    ]:
        head = f"  {rule}:\n"
        assert head in text
        text = text.replace(head, head + extra, 1)
    return text


@pytest.fixture(scope="module")
def lifecycle(stack_env: dict[str, str], tmp_path_factory) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(lifecycle_text(), "utf-8")
    p = start_pipeline(stack_env, LIVEGATE_POLICY=str(path))
    yield p
    for w in p.workers:
        w.stop()


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def bucket(salt: str, creator: str) -> int:
    return int(hashlib.sha256(f"{salt}:{creator}".encode()).hexdigest()[:8], 16) % 100


async def decisions_of(p: Pipeline, ids: set[str], timeout: float = 60) -> dict[str, dict]:
    found = await wait_for(
        p.settings, p.settings.topics.decisions,
        lambda rs: ids <= {r.get("event_id") for r in rs}, timeout,
    )  # fmt: skip
    return {r["event_id"]: r for r in found if r.get("event_id") in ids}


async def test_the_worker_published_its_file_as_the_first_activation(lifecycle: Pipeline):
    p = lifecycle
    records = await read_all(p.settings, p.settings.topics.policies)
    activations = [r for r in records if "activation_id" in r]
    assert len(activations) == 1
    a = activations[0]
    version = policy_version(lifecycle_text())
    assert (a["effective_from"], a["policy_version"]) == (0, version)
    assert a["activation_id"] == f"{0:013d}:{version}" and a.key == a["activation_id"].encode()
    history = run_cli(p.env, "policy", "history")
    assert history.returncode == 0 and version in history.stdout
    shown = run_cli(p.env, "policy", "show", "--json")
    assert shown.returncode == 0 and f'"policy_version": "{version}"' in shown.stdout


async def test_a_shadow_rule_records_what_it_would_do_and_changes_nothing(lifecycle: Pipeline):
    p, c = lifecycle, cid("shadow")
    first = event("stream_started", c, f"{c}-e1", stream_id="s1", category="health")
    # A second event shows the state the first left: credit unchanged, stream still live.
    second = event("stream_started", c, f"{c}-e2", stream_id="s2", category="gaming")
    await produce(p.settings, p.settings.topics.live, [(c.encode(), first)])
    await decisions_of(p, {f"{c}-e1"})
    await produce(p.settings, p.settings.topics.live, [(c.encode(), second)])
    got = await decisions_of(p, {f"{c}-e1", f"{c}-e2"})
    d1 = got[f"{c}-e1"]
    assert d1["outcome"] == "allow" and d1["action_ids"] == []
    assert [s["rule_id"] for s in d1["shadow"]] == ["live.unqualified"]
    would = {a["action"] for a in d1["shadow"][0]["actions"]}
    assert {"cut_off_stream", "deduct_credit", "warn"} <= would
    state = got[f"{c}-e2"]["state_before"]
    assert state["credit"] == 12 and "s1" in state["streams"]
    actions = await read_all(p.settings, p.settings.topics.actions)
    assert [a for a in actions if a.get("creator_id") == c] == []
    shadow = await wait_for(
        p.settings, p.settings.topics.shadow,
        lambda rs: any(r.get("event_id") == f"{c}-e1" for r in rs),
    )  # fmt: skip
    rec = next(r for r in shadow if r.get("event_id") == f"{c}-e1")
    assert rec["mode"] == "shadow" and rec.key == c.encode()
    assert rec["shadow"] == d1["shadow"]


async def test_half_rollout_enforces_45_to_55_percent_and_replays_the_same(lifecycle: Pipeline):
    p = lifecycle
    run = uuid.uuid4().hex[:6]
    creators = [f"ro{run}-{i}" for i in range(1000)]
    t = now_ms()
    events = [
        (c.encode(), event("product_linked", c, f"{c}-e1", t, link_id="l1", product_id="p1",
                           surface="showcase", product_category="drug"))
        for c in creators
    ]  # fmt: skip
    await produce(p.settings, p.settings.topics.commerce, events)
    got = await decisions_of(p, {f"{c}-e1" for c in creators}, timeout=180)
    enforced = {c for c in creators if got[f"{c}-e1"]["action_ids"]}
    shadowed = {c for c in creators if got[f"{c}-e1"].get("shadow")}
    assert enforced.isdisjoint(shadowed) and enforced | shadowed == set(creators)
    assert 450 <= len(enforced) <= 550
    assert enforced == {c for c in creators if bucket("itest", c) < 50}
    # The same ones on replay: every decision of the period re-decided identically.
    result = run_cli(p.env, "replay", "verify", "--from", str(t - 1000), "--to", str(now_ms()),
                     "--no-progress", timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat(result.stdout, "decisions checked") >= 1000
    assert stat(result.stdout, "mismatches") == 0, result.stdout


async def test_a_rule_past_expires_at_no_longer_fires(lifecycle: Pipeline):
    p, c1, c2 = lifecycle, cid("exp-before"), cid("exp-after")
    title = "health tips from a doctor"
    before = event("stream_started", c1, f"{c1}-e1", EXPIRES_AT - 60_000, stream_id="s1",
                   category="lifestyle", title=title)  # fmt: skip
    after = event("stream_started", c2, f"{c2}-e1", now_ms(), stream_id="s1",
                  category="lifestyle", title=title)  # fmt: skip
    await produce(p.settings, p.settings.topics.live, [(c1.encode(), before), (c2.encode(), after)])
    got = await decisions_of(p, {f"{c1}-e1", f"{c2}-e1"})
    assert got[f"{c1}-e1"]["rule_ids"] == ["live.suspected"]
    assert got[f"{c2}-e1"]["rule_ids"] == [] and got[f"{c2}-e1"]["outcome"] == "allow"
    assert not got[f"{c2}-e1"].get("shadow")


def enforced_creator(tag: str) -> str:
    """A creator for whom the 50 % rollout of commerce.unqualified_product enforces."""
    while True:
        c = cid(tag)
        if bucket("itest", c) < 50:
            return c


def drug_link(c: str, n: int, ts: int) -> dict:
    return event("product_linked", c, f"{c}-l{n}", ts, link_id=f"l{n}", product_id="p",
                 surface="showcase", product_category="drug")  # fmt: skip


async def test_an_exemption_shadows_the_rule_until_until_and_a_revocation_ends_it(
    lifecycle: Pipeline,
):
    p = lifecycle
    rule = "commerce.unqualified_product"
    a, b = enforced_creator("exa"), enforced_creator("exb")
    start = now_ms()
    grants = {}
    for c, until in ((a, start + 60_000), (b, start + 3_600_000)):
        out = run_cli(p.env, "exempt", c, "--rule", rule, "--until", str(until),
                      "--reason", "under review", "--by", "lead")  # fmt: skip
        assert out.returncode == 0, out.stderr
        grants[c] = out.stdout.split()[1].rstrip(":")
    decided = await wait_for(p.settings, p.settings.topics.decisions,
                             lambda rs: {f"{g}:granted" for g in grants.values()}
                             <= {r.get("event_id") for r in rs})  # fmt: skip
    granted = [d for d in decided if d.get("event_type") == "exemption_granted"
               and d["creator_id"] in grants]  # fmt: skip
    assert len(granted) == 2 and all(d["outcome"] == "allow" for d in granted)
    # a: covered at ts < until, enforced again at ts >= until (an event stamped later).
    t = now_ms()
    await produce(
        p.settings,
        p.settings.topics.commerce,
        [(a.encode(), drug_link(a, 1, t)), (a.encode(), drug_link(a, 2, start + 60_000))],
    )
    got = await decisions_of(p, {f"{a}-l1", f"{a}-l2"})
    assert got[f"{a}-l1"]["action_ids"] == [] and got[f"{a}-l1"]["shadow"][0]["rule_id"] == rule
    assert rule in got[f"{a}-l2"]["rule_ids"] and got[f"{a}-l2"]["action_ids"]
    # b: revoked early, enforced from the revocation's ts on.
    await produce(p.settings, p.settings.topics.commerce, [(b.encode(), drug_link(b, 1, now_ms()))])
    await decisions_of(p, {f"{b}-l1"})
    out = run_cli(p.env, "exempt", "revoke", grants[b])
    assert out.returncode == 0, out.stderr
    await wait_for(p.settings, p.settings.topics.decisions,
                   lambda rs: any(r.get("event_type") == "exemption_revoked"
                                  and r.get("creator_id") == b for r in rs))  # fmt: skip
    await produce(p.settings, p.settings.topics.commerce, [(b.encode(), drug_link(b, 2, now_ms()))])
    got = await decisions_of(p, {f"{b}-l1", f"{b}-l2"})
    assert got[f"{b}-l1"]["action_ids"] == [] and got[f"{b}-l2"]["action_ids"]
    # Its row in `livegate explain` (the worker's creator view).
    url = f"http://127.0.0.1:{p.workers[0].web_port}"
    shown = run_cli(p.env, "explain", b, "--url", url)
    assert shown.returncode == 0, shown.stderr
    assert f"exemption {grants[b]} [{rule}]" in shown.stdout and "(ended)" in shown.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rule", "live.nonsense", "--until", "now+1h"], "no such rule"),
        (["--until", "now+31d"], "at most 30 days"),
        (["--until", "now-1m"], "later than now"),
    ],
)
async def test_exempt_refuses_bad_input_and_sends_nothing(lifecycle: Pipeline, args, words):
    p, c = lifecycle, cid("exbad")
    out = run_cli(p.env, "exempt", c, *args, "--reason", "x")
    assert out.returncode == 1 and words in out.stderr, out.stderr
    reviews = await read_all(p.settings, p.settings.topics.reviews)
    assert not [r for r in reviews if r.get("creator_id") == c]


async def test_revoking_an_exemption_the_creator_never_had_is_unknown_reference(
    lifecycle: Pipeline,
):
    p, c = lifecycle, cid("exnone")
    out = run_cli(p.env, "exempt", "revoke", f"{c}:x00000000")
    assert out.returncode == 0, out.stderr
    dead = await wait_for(p.settings, p.settings.topics.dlq,
                          lambda rs: any(r.get("key") == c for r in rs))  # fmt: skip
    assert next(r for r in dead if r.get("key") == c)["error"] == "unknown_reference"


async def test_an_unusable_record_on_the_policies_topic_is_reported_and_deciding_goes_on(
    lifecycle: Pipeline,
):
    from tests.integration.test_spare_ready import readyz

    p, c = lifecycle, cid("afterbad")
    forged = {"activation_id": "9999999999999:deadbeef", "policy_version": "deadbeef",
              "effective_from": 9_999_999_999_999, "text": "rules: {}", "activated_by": "x",
              "activated_at": 1}  # fmt: skip
    await produce(p.settings, p.settings.topics.policies, [(b"9999999999999:deadbeef", forged)])
    port = p.workers[0].web_port
    deadline = now_ms() + 30_000
    while True:
        status, body = readyz(port)
        if "policy_records" in body.get("checks", {}) or now_ms() > deadline:
            break
        await asyncio.sleep(0.5)
    check = body["checks"]["policy_records"]
    assert status == 503 and not check["ok"] and "9999999999999:deadbeef" in check["detail"]
    assert body["checks"]["policies"]["ok"]
    # Deciding goes on by the versions it has (the file's, live.unqualified in shadow).
    await produce(p.settings, p.settings.topics.live, [(c.encode(), event(
        "stream_started", c, f"{c}-e1", stream_id="s1", category="health"))])  # fmt: skip
    got = await decisions_of(p, {f"{c}-e1"})
    assert got[f"{c}-e1"]["policy_version"] == policy_version(lifecycle_text())
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    assert b"livegate_policy_unreadable_records_total 1.0" in metrics
    assert (
        f'livegate_policy_info{{version="{policy_version(lifecycle_text())}"}} 1.0'.encode()
        in metrics
    )
