"""The review console in a real headless Chromium (Debian's chromium + chromedriver) against
the real console, worker, broker and Redis: sign in, see the flagged item, confirm it, see it
leave the queue and the creator's credit fall; an unsigned request is refused. Screenshots
of the queue, an item and the creator page go to docs/screenshots/ (the README shows them)
with LIVEGATE_UPDATE_SCREENSHOTS=1, else to .livegate/test-artifacts/screenshots/.

The worker decides a suspected stream and flags it for review. Who writes the review item
and the creator's standing (enforcement.queue, enforcement.restrictions) and decides the
verdict depends on LIVEGATE_CONSOLE_TEST_PIPELINE:
- `real` (default): the worker does all of it; the test only drives the browser;
- `simulated`: this test plays that part from the worker's own flag_for_review action: it
  opens the item, and after the verdict arrives on moderation.reviews closes it and writes
  the lowered credit (for working on the console alone).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.settings import Settings
from pipeline.domain.events import CertificationGranted
from tests.conftest import ROOT
from tests.console_helpers import (
    REVIEWERS,
    ConsoleProcess,
    closed,
    console_env,
    snapshot,
    topic,
)
from tests.helpers import event, now_ms, produce, wait_for
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.e2e
MODE = os.environ.get("LIVEGATE_CONSOLE_TEST_PIPELINE", "real")
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# The README's screenshots are refreshed with LIVEGATE_UPDATE_SCREENSHOTS=1; otherwise a run
# leaves the tracked files alone and writes its pictures beside the other test artifacts.
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("LIVEGATE_UPDATE_SCREENSHOTS") == "1"
    else ROOT / ".livegate" / "test-artifacts" / "screenshots"
)
MIN = 60_000

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not os.environ.get("CI"):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)


@dataclass
class Setup:
    pipeline: Pipeline
    console: ConsoleProcess
    settings: Settings

    @property
    def env(self) -> dict[str, str]:
        return self.console.env


@pytest.fixture
def setup(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Setup]:
    pipeline = start_pipeline(stack_env)
    worker_url = f"http://127.0.0.1:{pipeline.workers[0].web_port}"
    env = console_env(pipeline.env, pipeline.uid, tmp_path, worker_url=worker_url)
    log = ROOT / ".livegate" / "test-logs" / f"console-{pipeline.uid}.log"
    console = ConsoleProcess(env, log).start()
    try:
        yield Setup(pipeline, console, Settings.from_env(env))
    finally:
        console.stop()
        for worker in pipeline.workers:
            worker.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1200,760", "--hide-scrollbars", "--lang=en"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def until(what: str, check: Any, timeout: float = 40, every: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            page = getattr(getattr(every, "__self__", None), "page_source", "")
            raise AssertionError(f"timed out waiting for {what}: {page[-3000:]}")
        if every is not None:
            every()
        time.sleep(0.4)


def screenshot(driver: Any, name: str) -> None:
    """The whole page as a small PNG: 64 colours are plenty for a text page."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(max(height + 140, 500), 1400))
    driver.save_screenshot(str(path))
    driver.set_window_size(1200, 760)
    Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)


async def flags(setup: Setup, creators: set[str]) -> dict[str, dict[str, Any]]:
    """The worker's flag_for_review actions for these creators, by creator."""
    records = await wait_for(setup.settings, setup.settings.topics.actions, lambda rs: creators <= {
        r["creator_id"] for r in rs if r.get("action") == "flag_for_review"})  # fmt: skip
    return {r["creator_id"]: r for r in records if r.get("action") == "flag_for_review"}


async def open_items_as_the_pipeline_would(setup: Setup, found: dict[str, dict]) -> None:
    """Simulated mode: the review items (§9) and standings the pipeline writes for a flag."""
    items, standings = [], []
    for creator, action in found.items():
        items.append((action["action_id"].encode(), {
            "kind": "review", "review_id": action["action_id"], "creator_id": creator,
            "platform": action.get("platform", "default"), "rule_id": action["rule_id"],
            "domain": "finance" if creator.startswith("fin-") else "health",
            "stream_id": action.get("stream_id"), "reason": action["reason"],
            "evidence": action["evidence"], "opened_at": action["event_ts"], "status": "open",
        }))  # fmt: skip
        limit = action["event_ts"] + 24 * 3_600_000
        standings.append((creator.encode(),
                          snapshot(creator, 12, recommendation_limited_until=limit)))  # fmt: skip
    await produce(setup.settings, topic(setup.env, "enforcement.queue"), items)
    await produce(setup.settings, topic(setup.env, "enforcement.restrictions"), standings)


async def decide_as_the_pipeline_would(setup: Setup, item: dict, action: dict) -> None:
    """Simulated mode: read the verdict the console sent, close the item, lower the credit
    (review.confirmed: deduct_credit serious, 4 of 12 points)."""
    (verdict,) = await wait_for(setup.settings, topic(setup.env, "moderation.reviews"),
                                lambda rs: len(rs) >= 1)  # fmt: skip
    assert (verdict["type"], verdict["review_id"], verdict["verdict"], verdict["reviewer_id"]) \
        == ("review_decided", action["action_id"], "confirm", "alice")  # fmt: skip
    assert verdict.key == item["creator_id"].encode()
    await produce(
        setup.settings,
        topic(setup.env, "enforcement.queue"),
        [(action["action_id"].encode(), closed(item, "confirm", "alice", verdict.get("note")))],
    )
    limit = action["event_ts"] + 24 * 3_600_000
    await produce(setup.settings, topic(setup.env, "enforcement.restrictions"), [(
        item["creator_id"].encode(),
        snapshot(item["creator_id"], 8, recommendation_limited_until=limit))])  # fmt: skip


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


async def test_a_reviewer_confirms_a_flagged_stream_in_the_browser(setup: Setup, browser: Any):
    from selenium.webdriver.common.by import By

    uid, url = setup.pipeline.uid, setup.console.url
    creator = f"dr-{uid}"
    others = {f"fin-{uid}": "Which stocks to buy this week", f"tcm-{uid}": "中医养生 偏方 live"}
    # A teacher, not a physician: qualified for education only.
    redis = connect(setup.settings)
    try:
        grant = CertificationGranted(
            event_id=f"g-{uid}", ts=now_ms(), creator_id=creator, domain="education",
            license_id="TCH-2291", issuer="Provincial Education Bureau", profession="teacher",
            valid_from=now_ms() - 400 * 86_400_000, valid_until=now_ms() + 700 * 86_400_000,
        )  # fmt: skip
        await CertStore(redis, setup.settings).apply([grant])
    finally:
        await redis.aclose()
    # Unqualified creators' gaming streams whose titles say health or finance: live.suspected.
    t0 = now_ms()
    streams = [
        event("stream_started", creator, f"ev-{uid}-1", ts=t0 - 42 * MIN, stream_id=f"s-{uid}",
              category="gaming", title="Doctor explains back pain treatment"),
        *(event("stream_started", c, f"ev-{c}", ts=t0 - n * 9 * MIN, stream_id=f"s-{c}",
                category="lifestyle", title=title)
          for n, (c, title) in enumerate(others.items())),
    ]  # fmt: skip
    await produce(setup.settings, setup.settings.topics.live,
                  [(e["creator_id"].encode(), e) for e in streams])  # fmt: skip
    found = await flags(setup, {creator, *others})
    action = found[creator]
    if MODE == "simulated":
        await open_items_as_the_pipeline_would(setup, found)

    # Nobody signed in: the browser is sent to /login, a POST is refused.
    browser.get(url + "/")
    assert "/login" in browser.current_url and "Sign in" in browser.title
    request = urllib.request.Request(f"{url}/items/{action['action_id']}/verdict",
                                     data=b"verdict=confirm", method="POST")  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    refused.value.close()

    browser.find_element(By.ID, "reviewer_id").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(REVIEWERS["alice"])
    browser.find_element(By.ID, "sign-in").click()
    row = f'tr[data-id="{action["action_id"]}"]'
    until("the flagged item on the queue", lambda: browser.find_elements(By.CSS_SELECTOR, row),
          every=browser.refresh)  # fmt: skip
    until("all three items", lambda: len(browser.find_elements(By.CSS_SELECTOR, "tr.item")) >= 3,
          every=browser.refresh)  # fmt: skip
    assert text_of(browser, "#reviewer") == "alice"
    first = browser.find_elements(By.CSS_SELECTOR, "tr.item")[0]
    assert first.get_attribute("data-id") == action["action_id"]  # oldest first
    assert "late" in first.text and creator in first.text
    screenshot(browser, "console-queue.png")

    browser.get(f"{url}/creators/{creator}")
    credit_before = int(until("the credit", lambda: text_of(browser, "#credit").strip("–")
                              or None, every=browser.refresh))  # fmt: skip

    browser.get(url + "/")
    browser.find_element(By.CSS_SELECTOR, f"{row} a[href^='/items/']").click()
    assert "Doctor explains back pain treatment" in text_of(browser, "#stream")
    assert "gaming" in text_of(browser, "#stream")
    browser.find_element(By.ID, "note").send_keys("Gives treatment advice on a gaming stream.")
    screenshot(browser, "console-item.png")
    browser.find_element(By.ID, "confirm").click()
    shown = until("the verdict sent", lambda: text_of(browser, "#waiting")
                  or text_of(browser, "#outcome"))  # fmt: skip
    assert "waiting for the pipeline" in shown or "confirm by alice" in shown
    if MODE == "simulated":
        item = {"kind": "review", "review_id": action["action_id"], "creator_id": creator,
                "platform": action.get("platform", "default"), "rule_id": action["rule_id"],
                "domain": "health", "stream_id": action.get("stream_id"),
                "reason": action["reason"], "evidence": action["evidence"],
                "opened_at": action["event_ts"], "status": "open"}  # fmt: skip
        await decide_as_the_pipeline_would(setup, item, action)
    outcome = until("the outcome", lambda: text_of(browser, "#outcome"))  # the page refreshes
    assert "confirm by alice" in outcome and "treatment advice" in outcome

    browser.get(url + "/")
    assert not browser.find_elements(By.CSS_SELECTOR, row)  # it left the queue
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.item")) == 2
    assert action["action_id"] in text_of(browser, "#closed") or creator in text_of(
        browser, "#closed")  # fmt: skip

    browser.get(f"{url}/creators/{creator}")
    credit_after = int(until("the credit to fall", lambda: (
        c := text_of(browser, "#credit")) and c != str(credit_before) and c,
        every=browser.refresh))  # fmt: skip
    assert credit_after < credit_before
    assert "recommendation limited" in text_of(browser, "#restrictions")
    assert "TCH-2291" in text_of(browser, "#certifications")
    screenshot(browser, "console-creator.png")

    stolen = browser.get_cookie("livegate_session")
    assert stolen is not None
    browser.find_element(By.CSS_SELECTOR, "header form button").click()  # sign out
    # The click returns before the form's POST is answered: a navigation started now
    # could abort it. Wait for its redirect to the sign-in page first.
    until("the sign-out's redirect", lambda: "/login" in browser.current_url)
    browser.get(url + "/")
    assert "/login" in browser.current_url
    # The old cookie, put back: refused, the session ended on the server at sign-out.
    browser.add_cookie({k: stolen[k] for k in ("name", "value", "path")})
    browser.get(url + "/")
    assert "/login" in browser.current_url and "Sign in" in browser.title
    replay = urllib.request.Request(url + "/", headers={
        "Cookie": f"livegate_session={stolen['value']}"})  # fmt: skip
    with urllib.request.urlopen(replay, timeout=10) as answer:  # follows the redirect
        assert answer.url.startswith(f"{url}/login")

    # Eleven wrong secrets lock the name out, for the stated time, said on the page.
    for _ in range(11):
        browser.get(url + "/login")
        browser.find_element(By.ID, "reviewer_id").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys("not-alices-secret")
        browser.find_element(By.ID, "sign-in").click()
        message = until("the refusal", lambda: text_of(browser, "#error"))
    assert "locked out until" in message and "(15 min)" in message, message
    browser.get(url + "/login")
    browser.find_element(By.ID, "reviewer_id").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(REVIEWERS["alice"])
    browser.find_element(By.ID, "sign-in").click()
    message = until("the refusal", lambda: text_of(browser, "#error"))
    assert "locked out until" in message  # even the right secret
    assert "/login" in browser.current_url
    audit = [json.loads(line) for line in Path(setup.env["LIVEGATE_CONSOLE_AUDIT_LOG"])
             .read_text().splitlines()]  # fmt: skip
    kinds = [a["event"] for a in audit if a["reviewer_id"] == "alice"]
    assert kinds[:3] == ["sign_in", "verdict", "sign_out"] and "sign_in_refused" in kinds
