"""Audit replays on the real stack: simulated traffic through a real worker, then
`livegate replay verify` over the period, tampered copies of the log, `whatif` with a
stricter report threshold, and a shadow policy beside the active one."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import NewTopic

from pipeline.adapters import kafka
from pipeline.adapters.kafka import ensure_topics, read_topic
from pipeline.adapters.settings import REPO_ROOT, env_var_for_topic
from pipeline.domain.audit import seal
from pipeline.domain.policy import policy_version
from pipeline.engine.policyhistory import read_policies
from pipeline.ops.registry import Registry, build_change, grant_fields
from tests.helpers import event, now_ms, produce, read_all, run_cli, wait_for
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.integration
POLICY = REPO_ROOT / "config" / "policy.yaml"
INPUTS = ("live.streams", "commerce.links", "moderation.reports", "certification.changes",
          "moderation.reviews")  # fmt: skip


def stricter_policy(tmp: Path) -> Path:
    text = POLICY.read_text(encoding="utf-8")
    assert text.count("distinct_reporters: 5") == 1
    path = tmp / "stricter.yaml"
    path.write_text(text.replace("distinct_reporters: 5", "distinct_reporters: 3"), "utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def verify(env: dict[str, str], start: int, end: int, *extra: str, **topics: str) -> Any:
    env = {**env, **{env_var_for_topic(k): v for k, v in topics.items()}}
    return run_cli(env, "replay", "verify", "--from", str(start), "--to", str(end), *extra)


def stat(output: str, name: str) -> int:
    found = re.search(rf"{name}:\s+([\d,]+)", output)
    assert found, output
    return int(found.group(1).replace(",", ""))


async def input_count(p: Pipeline) -> int:
    total = 0
    for t in INPUTS:
        total += len(await read_all(p.settings, p.settings.topics[t]))
    return total


@pytest.fixture(scope="module")
async def period(pipeline: Pipeline) -> tuple[int, int]:
    """Five seconds of simulated traffic, a revocation every two, verdicts and appeals
    half a second after the flags and enforcements, all decided."""
    p = pipeline
    start = now_ms()
    done = await asyncio.to_thread(
        run_cli, p.env, "simulate", "--creators", "50", "--rate", "100", "--duration", "5",
        "--quiet", "--revoke-every", "2", "--review-delay", "0.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    wanted = await input_count(p)
    await wait_for(p.settings, p.settings.topics.decisions,
                   lambda rs: len({r["event_id"] for r in rs}) >= wanted, timeout=90)  # fmt: skip
    return start, now_ms() + 1


async def verify_copy(p: Pipeline, name: str, edit: Any, start: int, end: int) -> tuple[str, Any]:
    """`replay verify` over a copy of the decisions topic that `edit` tampered with."""
    topic, _ = await copy_decisions(p, name, edit)
    result = await asyncio.to_thread(verify, p.env, start, end, **{"enforcement.decisions": topic})
    return topic, result


async def copy_decisions(p: Pipeline, name: str, edit: Any) -> tuple[str, dict[int, list[Any]]]:
    """Copy the decisions topic into a new topic; edit(partition, records) may change them.

    Records are (key, value bytes) per partition, produced to the same partition in order.
    """
    s = p.settings
    raw = await read_topic(s, s.topics.decisions)
    records = {part: [(r.key, r.value) for r in rows] for part, rows in raw.items()}
    edit(records)
    topic = f"t{p.uid}.copy-{name}-{uuid.uuid4().hex[:6]}"
    await ensure_topics(s.kafka_bootstrap, [NewTopic(topic, len(raw), 1)])
    producer = kafka.producer(s)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, partition=part)
            for part, rows in records.items()
            for key, value in rows
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return topic, records


def pick(records: dict[int, list[Any]], test: Any) -> tuple[int, int]:
    """(partition, index) of a record in the middle of its partition that passes test."""
    for part, rows in sorted(records.items(), key=lambda kv: -len(kv[1])):
        for i in range(len(rows) // 2, len(rows) - 1):
            if test(json.loads(rows[i][1])):
                return part, i
    raise AssertionError("no record to pick")


async def test_verify_matches_every_decision_of_the_period(pipeline, period):
    p, (start, end) = pipeline, period
    result = await asyncio.to_thread(verify, p.env, start, end)
    print(result.stdout)  # the replay speed, for the record
    assert result.returncode == 0, result.stdout + result.stderr
    checked = stat(result.stdout, "decisions checked")
    assert checked >= 450
    assert stat(result.stdout, "matched") == checked
    assert stat(result.stdout, "mismatches") == 0 and stat(result.stdout, "chain breaks") == 0
    assert stat(result.stdout, "stale snapshots") == 0
    # The verdicts and appeals of the simulated reviewers were re-decided too.
    decided = {r["event_type"] for r in await read_all(p.settings, p.settings.topics.decisions)}
    assert {"review_decided", "appeal_filed", "appeal_decided"} <= decided
    # The policy every decision names is on the policy history.
    history = await read_policies(p.settings)
    assert policy_version(POLICY.read_text("utf-8")) in history


async def test_a_revocation_mid_period_is_honoured_as_it_was(pipeline, period):
    p, (_, end) = pipeline, period
    changes = await read_all(p.settings, p.settings.topics.certs)
    revoked = [c for c in changes if c["type"] == "certification_revoked"]
    assert revoked, "the simulator revoked nothing"
    decisions = await read_all(p.settings, p.settings.topics.decisions)
    for rev in revoked:
        mine = [d for d in decisions if d["creator_id"] == rev["creator_id"]]
        before = [d for d in mine if d["decided_at"] < rev["ts"]]
        after = [d for d in mine if d["event_id"] == rev["event_id"]]
        assert before and after
        assert before[-1]["certifications"][rev["domain"]]["status"] == "active"
        assert after[0]["certifications"][rev["domain"]]["status"] == "revoked"
    lapsed = [d for d in decisions if "certification.lapsed_live" in d["rule_ids"]]
    assert lapsed, "no live stream was cut off by a revocation"
    # ... and the replay of the whole period, revocations included, matched (previous test);
    # here only the revocation decisions and what followed them.
    first = min(r["ts"] for r in revoked)
    result = await asyncio.to_thread(verify, p.env, first, end)
    assert result.returncode == 0, result.stdout
    assert stat(result.stdout, "matched") == stat(result.stdout, "decisions checked") > 0


async def test_an_edited_decision_fails_verify_and_is_named(pipeline, period):
    p, (start, end) = pipeline, period
    where: dict[str, int] = {}

    def edit(records: dict[int, list[Any]]) -> None:
        part, i = pick(records, lambda d: d["outcome"] == "enforce")
        key, value = records[part][i]
        d = json.loads(value)
        d["outcome"], d["action_ids"], d["rule_ids"] = "allow", [], []
        records[part][i] = (key, json.dumps(d).encode())
        where.update(partition=part, offset=i)

    topic, result = await verify_copy(p, "edited", edit, start, end)
    assert result.returncode == 1, result.stdout
    at = f"{topic}[{where['partition']}]@{where['offset']}"
    lines = result.stdout.splitlines()
    assert any(line.startswith("BREAK") and at in line and "altered" in line for line in lines)
    assert any(line.startswith("MISMATCH") and at in line and "outcome" in line for line in lines)
    assert stat(result.stdout, "chain breaks") == 1


async def test_a_deleted_decision_fails_verify_and_is_named(pipeline, period):
    p, (start, end) = pipeline, period
    where: dict[str, Any] = {}

    def delete(records: dict[int, list[Any]]) -> None:
        part, i = pick(records, lambda d: d["outcome"] == "enforce")
        where.update(partition=part, offset=i, record=json.loads(records[part][i][1]))
        del records[part][i]

    topic, result = await verify_copy(p, "deleted", delete, start, end)
    assert result.returncode == 1, result.stdout
    # The record after the gap now sits at the deleted one's offset.
    at = f"{topic}[{where['partition']}]@{where['offset']}"
    lines = result.stdout.splitlines()
    assert any(line.startswith("BREAK") and at in line and "missing" in line for line in lines)
    # Its actions are still on enforcement.actions, with no decision to account for them.
    orphans = [line for line in lines if line.startswith("ORPHAN")]
    assert len(orphans) == len(where["record"]["action_ids"]) > 0
    assert stat(result.stdout, "chain breaks") == 1


async def test_a_snapshot_that_disagrees_with_the_history_is_stale(pipeline, period):
    p, (start, end) = pipeline, period
    changes = await read_all(p.settings, p.settings.topics.certs)
    rev = next(c for c in changes if c["type"] == "certification_revoked")
    where: dict[str, int] = {}

    def forge(records: dict[int, list[Any]]) -> None:
        # The revocation's own decision, its snapshot missing the certification; the chain
        # is sealed again from there, so only the snapshot is wrong.
        for part, rows in records.items():
            for i, (_, value) in enumerate(rows):
                d = json.loads(value)
                if d["event_id"] == rev["event_id"]:
                    # As if the worker had never seen this creator's grant, seconds before.
                    del d["certifications"][rev["domain"]]
                    head = json.loads(rows[i - 1][1])["hash"] if i else "0" * 64
                    for j in range(i, len(rows)):
                        body = d if j == i else json.loads(rows[j][1])
                        body.pop("hash")
                        value, head = seal(body, head, p.settings.seal_key)  # LiveGate's key
                        rows[j] = (rows[j][0], value)
                    where.update(partition=part, offset=i)
                    return

    topic, result = await verify_copy(p, "stale", forge, start, end)
    at = f"{topic}[{where['partition']}]@{where['offset']}"
    stale = [line for line in result.stdout.splitlines() if line.startswith("STALE")]
    assert len(stale) == 1, result.stdout
    assert at in stale[0] and rev["creator_id"] in stale[0] and rev["event_id"] in stale[0]
    assert stat(result.stdout, "chain breaks") == 0


async def grant(p: Pipeline, creator: str) -> None:
    t = now_ms()
    fields = grant_fields(creator, "health", f"L-{creator}", "NHC", t - 1000, t + 10**10,
                          "physician", t)  # fmt: skip
    await Registry(p.settings).apply_and_publish([build_change(fields)])


def reported_stream(creator: str, reporters: int, t0: int) -> list[dict[str, Any]]:
    """A stream suspected of health (category gaming) and `reporters` distinct user reports."""
    out = [event("stream_started", creator, f"{creator}-start", ts=t0, stream_id="s1",
                 category="gaming", title="Doctor explains a cure for back pain")]  # fmt: skip
    for n in range(reporters):
        out.append(event("report", creator, f"{creator}-r{n}", ts=t0 + 1000 * (n + 1),
                         source="user", reporter_id=f"u{n}", stream_id="s1",
                         reason="unqualified_professional_content"))  # fmt: skip
    return out


async def send_all(p: Pipeline, events: list[dict[str, Any]]) -> None:
    topics = {"stream_started": p.settings.topics.live, "report": p.settings.topics.reports}
    for e in events:
        await produce(p.settings, topics[e["type"]], [(e["creator_id"].encode(), e)])


async def test_whatif_with_a_stricter_report_threshold_cuts_off_exactly_the_expected(
    pipeline, period, tmp_path
):
    p = pipeline
    u = uuid.uuid4().hex[:6]
    counts = {f"w3-{u}": 3, f"w4-{u}": 4, f"w2-{u}": 2, f"w5-{u}": 5, f"wq-{u}": 4}
    await grant(p, f"wq-{u}")  # qualified: reports only flag for review
    start = now_ms()
    traffic = [e for c, n in counts.items() for e in reported_stream(c, n, start)]
    await send_all(p, traffic)
    ids = {e["event_id"] for e in traffic}
    await wait_for(p.settings, p.settings.topics.decisions,
                   lambda rs: ids <= {r["event_id"] for r in rs}, timeout=30)  # fmt: skip
    end = start + 60_000
    actions_before = len(await read_all(p.settings, p.settings.topics.actions))
    out = tmp_path / "report"
    result = await asyncio.to_thread(
        run_cli, p.env, "replay", "whatif", "--policy", str(stricter_policy(tmp_path)),
        "--from", str(start), "--to", str(end), "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_csv(out / "whatif.csv")
    cutoffs = {(r["change"], r["creator_id"], r["subject"], r["rule_id"])
               for r in rows if r["action"] == "cut_off_stream"}  # fmt: skip
    assert cutoffs == {("added", f"w3-{u}", "s1", "reports.threshold"),
                       ("added", f"w4-{u}", "s1", "reports.threshold")}  # fmt: skip
    # The extra cut-offs come at the third report, with their deduction; the qualified
    # creator is flagged for review instead; nothing is removed.
    added = {(r["creator_id"], r["action"], r["event_id"]) for r in rows}
    assert (f"w3-{u}", "cut_off_stream", f"w3-{u}-r2") in added
    assert (f"wq-{u}", "flag_for_review", f"wq-{u}-r2") in added
    assert not [r for r in rows if r["change"] == "removed"]
    md = (out / "whatif.md").read_text("utf-8")
    assert "| reports.threshold | cut_off_stream |" in md and (out / "whatif.png").exists()
    assert "differs from what was recorded on 0 events" in md
    assert len(await read_all(p.settings, p.settings.topics.actions)) == actions_before

    # The active policy through the same replay changes nothing.
    same = tmp_path / "same"
    result = await asyncio.to_thread(
        run_cli, p.env, "replay", "whatif", "--policy", str(POLICY), "--from", str(start),
        "--to", str(end), "--out", str(same),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_csv(same / "whatif.csv") == []


async def test_shadow_policy_decides_beside_the_active_one_and_never_acts(stack_env, tmp_path):
    candidate = stricter_policy(tmp_path)
    p = await asyncio.to_thread(start_pipeline, stack_env, LIVEGATE_SHADOW_POLICY=str(candidate))
    try:
        c = f"sh-{uuid.uuid4().hex[:6]}"
        traffic = reported_stream(c, 3, now_ms())
        await send_all(p, traffic)
        shadow = await wait_for(p.settings, p.settings.topics.shadow,
                                lambda rs: len(rs) >= len(traffic), timeout=30)  # fmt: skip
        third = next(s for s in shadow if s["event_id"] == f"{c}-r2")
        assert third["agrees"] is False and third["outcome"] == "enforce"
        assert "reports.threshold" in third["rule_ids"]
        assert third["policy_version"] == policy_version(candidate.read_text("utf-8"))
        assert [s for s in shadow if s["event_id"] != f"{c}-r2" and not s["agrees"]] == []
        # The shadow never acts: no cut-off on enforcement.actions.
        await wait_for(p.settings, p.settings.topics.decisions,
                       lambda rs: len(rs) >= len(traffic))  # fmt: skip
        acts = await read_all(p.settings, p.settings.topics.actions)
        assert not [a for a in acts if a["action"] == "cut_off_stream"]
        # Both policies are on the history; the metric counts the disagreement.
        history = await read_policies(p.settings)
        assert {third["policy_version"], third["active"]["policy_version"]} <= set(history)
        port = p.workers[0].web_port

        def scrape() -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                return resp.read()

        body = await asyncio.to_thread(scrape)
        metrics = body.decode()
        assert re.search(r'livegate_shadow_disagreements_total\{kind="reports"\} 1\.0', metrics)
        assert re.search(r'livegate_shadow_decisions_total\{kind="reports"\} 3\.0', metrics)
    finally:
        for w in p.workers:
            w.stop()
