"""The review console against the real broker and Redis: queue items produced to
enforcement.queue as the pipeline writes them, verdicts read back from moderation.reviews
exactly as the pipeline will read them (CONTRACT §2, §9)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.settings import Settings
from pipeline.domain.events import CertificationGranted
from pipeline.domain.signing import check_signature
from tests.conftest import ROOT, isolated_env
from tests.console_helpers import (
    REVIEWERS,
    ConsoleProcess,
    appeal_item,
    client,
    closed,
    console_env,
    csrf_of,
    page_until,
    review_item,
    sign_in,
    snapshot,
    topic,
    verdict_form,
)
from tests.helpers import event, free_port, now_ms, produce, read_all, wait_for
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.integration
DAY = 86_400_000


@pytest.fixture
def console(stack_env: dict[str, str], uid: str, tmp_path: Path) -> Iterator[ConsoleProcess]:
    env = console_env(isolated_env(stack_env, uid), uid, tmp_path)
    log = ROOT / ".livegate" / "test-logs" / f"console-{uid}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = ConsoleProcess(env, log).start()
    yield proc
    proc.stop()


def cs(console: ConsoleProcess) -> Settings:
    return Settings.from_env(console.env)


async def put(console: ConsoleProcess, name: str, key: str, value: dict) -> None:
    await produce(cs(console), topic(console.env, name), [(key.encode(), value)])


async def test_nothing_is_served_without_signing_in(console: ConsoleProcess):
    async with client() as http:
        for path in ("/", "/items/x", "/creators/c1", "/?kind=review"):
            async with http.get(console.url + path, allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"].startswith("/login?next=")
        async with http.post(f"{console.url}/items/x/verdict",
                             data={"verdict": "confirm"}) as r:  # fmt: skip
            assert r.status == 401
        assert await sign_in(http, console.url, "alice", "wrong-secret") == 401
        assert await sign_in(http, console.url, "mallory", REVIEWERS["alice"]) == 401
        async with http.get(console.url + "/", allow_redirects=False) as r:
            assert r.status == 303
        assert await sign_in(http, console.url, "alice", REVIEWERS["alice"]) == 303
        cookie = next(c for c in http.cookie_jar if c.key == "livegate_session")
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.get(console.url + "/") as r:
            assert r.status == 200 and "signed in as" in await r.text()


async def test_a_confirm_produces_the_exact_verdict_and_the_page_shows_the_outcome(
    console: ConsoleProcess, uid: str
):
    creator, review_id = f"c-{uid}", f"{uid}{'0' * 54}"
    item = review_item(creator, review_id)
    await put(console, "enforcement.queue", review_id, item)
    async with client() as http:
        assert await sign_in(http, console.url, "bob", REVIEWERS["bob"]) == 303
        queue = await page_until(http, console.url + "/", review_id)
        assert "late" in queue  # opened 40 minutes ago, review.sla 30m
        page = await page_until(http, f"{console.url}/items/{review_id}", 'id="confirm"')
        assert "title suggests health content" in page and f"ev-{creator}-1" in page
        before = now_ms()
        # a forged reviewer_id field: ignored
        form = verdict_form(page, "confirm", " live health advice ", reviewer_id="mallory")
        async with http.post(f"{console.url}/items/{review_id}/verdict", data=form,
                             allow_redirects=False) as r:  # fmt: skip
            assert r.status == 303
        after = now_ms()
        records = await wait_for(cs(console), topic(console.env, "moderation.reviews"),
                                 lambda rs: len(rs) >= 1)  # fmt: skip
        assert len(records) == 1
        (verdict,) = records
        assert before <= verdict["ts"] <= after
        # Signed with the verdict key, the reviewer's role inside (CONTRACT §12).
        assert check_signature(dict(verdict), Settings().verdict_keys) is None
        assert {k: v for k, v in verdict.items() if k != "signature"} == {
            "event_id": form["event_id"],  # the form's own, random
            "type": "review_decided",
            "ts": verdict["ts"],
            "creator_id": creator,
            "platform": "default",
            "review_id": review_id,
            "verdict": "confirm",
            "reviewer_id": "bob",
            "role": "senior",
            "note": "live health advice",
        }
        assert verdict.key == creator.encode()
        partitions = list(range(Settings.from_env(console.env).partitions))
        assert verdict.partition == DefaultPartitioner()(creator.encode(), partitions, partitions)

        await page_until(http, f"{console.url}/items/{review_id}", "waiting for the pipeline")
        # The pipeline decides it and closes the item.
        await put(console, "enforcement.queue", review_id,
                  closed(item, "confirm", "bob", "live health advice"))  # fmt: skip
        done = await page_until(http, f"{console.url}/items/{review_id}", 'id="outcome"')
        assert "Decided: <strong>confirm</strong> by <strong>bob</strong>" in done
        assert 'id="verdict"' not in done  # no buttons on a closed item
        queue = await page_until(http, console.url + "/", f'data-id="{review_id}"', present=False)
        assert "Recently closed" in queue


async def test_a_missing_note_a_stale_item_and_a_missing_csrf_token_say_so(
    console: ConsoleProcess, uid: str
):
    creator = f"c-{uid}"
    review = review_item(creator, f"r{uid}", domain="finance")
    appeal = appeal_item(creator, f"ap-{uid}")
    await put(console, "enforcement.queue", review["review_id"], review)
    await put(console, "enforcement.queue", appeal["appeal_id"], appeal)
    reviews_topic = topic(console.env, "moderation.reviews")
    async with client() as http:
        await sign_in(http, console.url, "alice", REVIEWERS["alice"])
        page = await page_until(http, console.url + "/", appeal["appeal_id"])
        appeals = await page_until(http, console.url + "/?kind=appeal", appeal["appeal_id"])
        assert review["review_id"] not in appeals
        health = await page_until(http, console.url + "/?domain=health", "Nothing open")
        assert review["review_id"] not in health
        page = await page_until(http, f"{console.url}/items/{appeal['appeal_id']}", 'id="uphold"')
        assert "(required to Overturn)" in page and appeal["statement"] in page
        url = f"{console.url}/items/{appeal['appeal_id']}/verdict"
        async with http.post(url, data=verdict_form(page, "overturn", "  ")) as r:
            assert r.status == 400
            assert "overturn needs a note saying why" in await r.text()
        async with http.post(url, data={"verdict": "uphold"}) as r:
            assert r.status == 403 and "CSRF" in await r.text()
        async with http.post(url, data={"verdict": "uphold", "csrf": "forged"}) as r:
            assert r.status == 403

        # Closed meanwhile (another reviewer's verdict decided): the page says so.
        await put(console, "enforcement.queue", review["review_id"],
                  closed(review, "dismiss", "bob", "not finance"))  # fmt: skip
        await page_until(http, f"{console.url}/items/{review['review_id']}", 'id="outcome"')
        async with http.post(f"{console.url}/items/{review['review_id']}/verdict",
                             data=verdict_form(page, "confirm")) as r:  # fmt: skip
            assert r.status == 409
            assert "closed meanwhile (dismiss by bob): nothing was sent" in await r.text()

        async with http.post(url, data=verdict_form(page, "uphold")) as r:
            assert r.status == 200  # redirected to the item page
        records = await wait_for(cs(console), reviews_topic, lambda rs: len(rs) >= 1)
    # Only the uphold was sent: the refused forms produced nothing.
    records = await read_all(cs(console), reviews_topic)
    assert [(r["type"], r["verdict"], r["reviewer_id"]) for r in records] == [
        ("appeal_decided", "uphold", "alice")
    ]
    assert "note" not in records[0] and records[0]["appeal_id"] == appeal["appeal_id"]


async def test_the_creator_page_shows_standing_certifications_and_items(
    console: ConsoleProcess, uid: str
):
    creator = f"c-{uid}"
    settings = cs(console)
    until = now_ms() + 3 * DAY
    await put(console, "enforcement.restrictions", creator,
              snapshot(creator, 6, recommendation_limited_until=until,
                       commerce_revoked={"live": None, "showcase": "while_qualified"}))  # fmt: skip
    redis = connect(settings)
    try:
        grant = CertificationGranted(
            event_id=f"g-{uid}", ts=now_ms(), creator_id=creator,
            domain="health", license_id="LIC-42", issuer="Health Board",
            valid_from=now_ms() - DAY, valid_until=now_ms() + 365 * DAY, profession="physician",
        )  # fmt: skip
        assert await CertStore(redis, settings).apply([grant]) == [True]
    finally:
        await redis.aclose()
    await put(console, "enforcement.queue", f"r{uid}", review_item(creator, f"r{uid}"))
    async with client() as http:
        await sign_in(http, console.url, "alice", REVIEWERS["alice"])
        page = await page_until(http, f"{console.url}/creators/{creator}", 'id="credit">6<')
    assert "from enforcement.restrictions" in page
    assert "recommendation limited" in page and "commerce revoked: live" in page
    assert "while qualified" in page and "permanent" in page
    assert "LIC-42" in page and "qualified" in page and "physician" in page
    assert f"r{uid}" in page  # its queue item
    assert "no worker configured" in page


@pytest.fixture
def real_pipeline(stack_env: dict[str, str]) -> Iterator[Pipeline]:
    pipeline = start_pipeline(stack_env)  # sync: it runs its own event loop
    yield pipeline
    for worker in pipeline.workers:
        worker.stop()


@pytest.mark.skipif(
    os.environ.get("LIVEGATE_CONSOLE_TEST_PIPELINE", "real") != "real",
    reason="needs the pipeline's reviews part (LIVEGATE_CONSOLE_TEST_PIPELINE=real)",
)
async def test_an_appeal_overturned_in_the_console_lifts_the_limit(
    real_pipeline: Pipeline, tmp_path: Path
):
    pipeline = real_pipeline
    uid = pipeline.uid
    env = console_env(pipeline.env, uid, tmp_path,
                      worker_url=f"http://127.0.0.1:{pipeline.workers[0].web_port}")  # fmt: skip
    proc = ConsoleProcess(env, ROOT / ".livegate" / "test-logs" / f"console-{uid}.log").start()
    settings = Settings.from_env(env)
    creator = f"c-{uid}"
    try:
        start = event("stream_started", creator, f"ev-{uid}", stream_id=f"s-{uid}",
                      category="gaming", title="A doctor answers your questions")  # fmt: skip
        await produce(settings, settings.topics.live, [(creator.encode(), start)])
        actions = await wait_for(settings, settings.topics.actions, lambda rs: any(
            r.get("action") == "limit_recommendation" for r in rs))  # fmt: skip
        limit = next(a for a in actions if a["action"] == "limit_recommendation")
        filed = event(
            "appeal_filed",
            creator,
            f"ap-{uid}",
            appeal_id=f"ap-{uid}",
            action_id=limit["action_id"],
            statement="It was a game about doctors.",
        )
        await produce(settings, topic(env, "moderation.reviews"), [(creator.encode(), filed)])
        async with client() as http:
            await sign_in(http, proc.url, "bob", REVIEWERS["bob"])
            page = await page_until(http, f"{proc.url}/items/ap-{uid}", 'id="overturn"')
            assert "It was a game about doctors." in page and "live.suspected" in page
            async with http.post(
                f"{proc.url}/items/ap-{uid}/verdict",
                data=verdict_form(page, "overturn", "a game, not advice"),
            ) as r:
                assert r.status == 200
            done = await page_until(http, f"{proc.url}/items/ap-{uid}", 'id="outcome"')
        assert "Decided: <strong>overturn</strong> by <strong>bob</strong>" in done
        actions = await wait_for(settings, settings.topics.actions, lambda rs: any(
            r.get("action") == "lift_recommendation_limit" for r in rs))  # fmt: skip
        lift = next(a for a in actions if a["action"] == "lift_recommendation_limit")
        assert lift["lifts"] == [limit["action_id"]] and lift["rule_id"] == "appeal.overturned"
    finally:
        proc.stop()


async def test_sessions_and_lockouts_are_shared_by_replicas(
    stack_env: dict[str, str], uid: str, tmp_path: Path
):
    """Two consoles on one Redis (replicas behind a balancer): a sign-out on one ends the
    session on the other; failures on one lock the name on the other; both audit."""
    env = console_env(isolated_env(stack_env, uid), uid, tmp_path)
    logs = ROOT / ".livegate" / "test-logs"
    a = ConsoleProcess(env, logs / f"console-{uid}-a.log").start()
    b = ConsoleProcess({**env, "LIVEGATE_CONSOLE_PORT": str(free_port())},
                       logs / f"console-{uid}-b.log").start()  # fmt: skip
    try:
        async with client() as http:
            assert await sign_in(http, a.url, "alice", REVIEWERS["alice"]) == 303
            cookie = next(c for c in http.cookie_jar if c.key == "livegate_session").value
            jar = {"livegate_session": cookie}
            async with http.get(b.url + "/", cookies=jar, allow_redirects=False) as r:
                assert r.status == 200  # one session, good on both
            page = await page_until(http, a.url + "/", "Sign out")
            async with http.post(b.url + "/logout", data={"csrf": csrf_of(page)},
                                 cookies=jar, allow_redirects=False) as r:  # fmt: skip
                assert r.status == 303
            async with http.get(a.url + "/", cookies=jar, allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"].startswith("/login")
        async with client() as http:
            for _ in range(10):
                assert await sign_in(http, a.url, "bob", "not-bobs-secret") in (401, 429)
            assert await sign_in(http, b.url, "bob", REVIEWERS["bob"]) == 429
    finally:
        a.stop()
        b.stop()
    audit = [json.loads(line) for line in
             Path(env["LIVEGATE_CONSOLE_AUDIT_LOG"]).read_text().splitlines()]  # fmt: skip
    assert [(x["event"], x["reviewer_id"]) for x in audit[:2]] == [
        ("sign_in", "alice"), ("sign_out", "alice")]  # fmt: skip
    assert audit[-1]["event"] == "sign_in_refused" and audit[-1]["reason"] == "locked"
    assert all(x["address"] == "127.0.0.1" and isinstance(x["ts"], int) for x in audit)
