"""The console in-process (its own fakes for Kafka and Redis), tried as an attacker would:
a malformed queue record, a stolen cookie after sign-out, guessing secrets, an open
redirect, a path smuggled to the worker, a proxy's headers from someone else."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipeline.console.auth import hash_password, parse_users
from pipeline.console.config import ConsoleSettings, ReviewSla
from pipeline.console.web import make_app
from tests.unit.console.fakes import InProcessConsole, MemoryStore

SECRET = "alice-secret-1"
_HASH = hash_password(SECRET)
NOW = 1_790_000_000_000


def _item(name: str, **more) -> dict:
    return {"kind": "review", "review_id": name, "creator_id": "c-1", "platform": "default",
            "rule_id": "live.suspected", "domain": "health", "opened_at": NOW,
            "status": "open", **more}  # fmt: skip


@pytest.fixture(params=["10.9.9.9"])
async def app(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[TestClient, InProcessConsole, Path]]:
    audit = tmp_path / "audit.jsonl"
    cs = ConsoleSettings.from_env({
        "LIVEGATE_CONSOLE_SECRET": "s" * 32, "LIVEGATE_WORKER_URL": "",
        "LIVEGATE_CONSOLE_AUDIT_LOG": str(audit),
        "LIVEGATE_CONSOLE_TRUSTED_PROXY": request.param,
    })  # fmt: skip
    console = InProcessConsole(cs, parse_users(f"alice:{_HASH}\n"), ReviewSla(30 * 60_000, True),
                               store=MemoryStore())  # fmt: skip
    client = TestClient(TestServer(make_app(console)),
                        cookie_jar=aiohttp.CookieJar(unsafe=True))  # fmt: skip
    await client.start_server()
    try:
        yield client, console, audit
    finally:
        await client.close()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:400]
    return found.group(1)


async def _sign_in(client: TestClient, password: str = SECRET, name: str = "alice",
                   next_path: str = "/", **headers: str) -> aiohttp.ClientResponse:  # fmt: skip
    page = await (await client.get("/login")).text()
    form = {"csrf": _csrf(page), "reviewer_id": name, "password": password, "next": next_path}
    return await client.post("/login", data=form, allow_redirects=False, headers=headers)


def _audit(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_malformed_queue_record_is_skipped_and_said_never_a_500(app):
    client, console, _ = app
    console.queue.apply(b"r-good", json.dumps(_item("r-good")).encode())
    for name, bad in [("r-str", {"opened_at": "yesterday"}), ("r-big", {"opened_at": 10**19}),
                      ("r-closed", {"status": "closed", "closed_at": "soon"})]:  # fmt: skip
        console.queue.apply(name.encode(), json.dumps(_item(name, **bad)).encode())
    console.standings.apply(b"c-1", json.dumps({"creator_id": "c-1", "credit": 4,
                                                "decided_at": "later"}).encode())  # fmt: skip
    assert (await _sign_in(client)).status == 303
    queue = await client.get("/")
    text = await queue.text()
    assert queue.status == 200 and 'data-id="r-good"' in text and "r-str" not in text
    assert "3 records of" in text and "skipped" in text
    for path in ("/items/r-good", "/creators/c-1", "/items/r-str"):
        response = await client.get(path)
        assert response.status in (200, 404), (path, response.status)


async def test_sign_out_ends_the_session_server_side(app):
    client, console, audit = app
    assert (await _sign_in(client)).status == 303
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))["livegate_session"]
    console.queue.apply(b"r1", json.dumps(_item("r1")).encode())
    page = await (await client.get("/items/r1")).text()
    form = {"csrf": _csrf(page), "verdict": "confirm", "note": "",
            "event_id": re.search(r'name="event_id" value="([^"]+)"', page).group(1)}  # fmt: skip
    logout = await client.post("/logout", data={"csrf": _csrf(page)}, allow_redirects=False)
    assert logout.status == 303
    # The old cookie, replayed: no page, no verdict.
    cookies = {"livegate_session": stolen.value}
    replay = await client.get("/", cookies=cookies, allow_redirects=False)
    assert replay.status == 303 and replay.headers["Location"].startswith("/login")
    posted = await client.post("/items/r1/verdict", data=form, cookies=cookies,
                               allow_redirects=False)  # fmt: skip
    assert posted.status == 401 and console.producer.sent == []
    assert [(a["event"], a["reviewer_id"]) for a in _audit(audit)] == [
        ("sign_in", "alice"), ("sign_out", "alice")]  # fmt: skip


async def test_eleven_wrong_secrets_lock_the_name_out_with_the_message(app):
    client, _, audit = app
    statuses = [(await _sign_in(client, "wrong-secret")).status for _ in range(11)]
    assert statuses[0] == 401 and statuses[-1] == 429
    locked = await _sign_in(client, SECRET)  # the right secret, too late
    text = await locked.text()
    assert locked.status == 429 and "locked out until" in text and "(15 min)" in text
    events = [a["event"] for a in _audit(audit)]
    assert events.count("sign_in") == 0 and events[-1] == "sign_in_refused"
    assert all(a["address"] == "127.0.0.1" for a in _audit(audit))


async def test_sign_in_goes_to_a_local_path_only(app):
    client, _, _ = app
    response = await _sign_in(client, next_path="/\t/evil.example/")
    assert response.status == 303 and response.headers["Location"] == "/"


async def test_a_creator_id_off_the_pattern_reaches_no_worker(app):
    client, _, _ = app
    await _sign_in(client)
    response = await client.get("/creators/..%2Fopenapi.json")
    assert response.status == 404 and "Not a creator id" in await response.text()


FORWARDED = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"}


async def test_forwarded_headers_from_anyone_but_the_proxy_are_ignored(app):
    client, _, audit = app
    # The test client connects from 127.0.0.1, not the trusted 10.9.9.9.
    spoofed = await _sign_in(client, **FORWARDED)
    assert spoofed.status == 303 and "Secure" not in spoofed.headers["Set-Cookie"]
    assert _audit(audit)[-1]["address"] == "127.0.0.1"


@pytest.mark.parametrize("app", ["127.0.0.1"], indirect=True)
async def test_behind_the_trusted_proxy_the_cookie_is_secure_and_the_address_real(app):
    client, _, audit = app
    response = await _sign_in(client, **FORWARDED)
    assert response.status == 303 and "Secure" in response.headers["Set-Cookie"]
    assert _audit(audit)[-1]["address"] == "203.0.113.9"
    # Throttling counts the real client, not the proxy.
    for _ in range(4):
        await _sign_in(client, "wrong-secret", **FORWARDED)
    _, console, _ = app
    assert console.store.fails["addr:203.0.113.9"].count == 4
    assert "addr:127.0.0.1" not in console.store.fails


async def test_without_its_store_sign_in_says_so_and_lets_nobody_in(app):
    client, console, _ = app

    async def down(*_: object) -> None:
        raise ConnectionError("redis down")

    console.store.failures = down  # type: ignore[method-assign]
    response = await _sign_in(client)
    assert response.status == 503 and "cannot be checked now" in await response.text()


async def test_the_creator_page_lists_the_creators_exemptions(app):
    client, console, _ = app
    view = {"creator_id": "c-1", "credit": 12, "credit_max": 12, "in_force": [],
            "deductions": [], "exemptions": [
                {"exemption_id": "c-1:x0badc0de", "rule_id": "live.suspected", "until": NOW,
                 "granted_ts": NOW - 1000, "granted_by": "lead", "reason": "under review",
                 "in_force": True},
                {"exemption_id": "c-1:x00000001", "rule_id": None, "until": NOW - 5,
                 "granted_ts": NOW - 9000, "granted_by": "lead", "reason": "<b>old</b>",
                 "in_force": False}]}  # fmt: skip

    async def worker_view(creator_id: str) -> tuple[dict, None]:
        return view, None

    console.views.view = worker_view  # type: ignore[method-assign]
    assert (await _sign_in(client)).status == 303
    page = await (await client.get("/creators/c-1")).text()
    table = page.split('id="exemptions"', 1)[1].split("</table>", 1)[0]
    assert "c-1:x0badc0de" in table and "live.suspected" in table and "under review" in table
    assert "every rule" in table and "(ended)" in table
    assert "<b>old</b>" not in table and "&lt;b&gt;old&lt;/b&gt;" in table  # escaped


async def test_the_creator_page_shows_the_platform_and_each_notice_in_both_languages(app):
    client, console, _ = app
    notice = {"zh-CN": "您的带货权限已被收回<script>", "en": "Your selling permission is withdrawn"}
    view = {"creator_id": "c-1", "platform": "douyin", "credit": 12, "credit_max": 12,
            "deductions": [], "in_force": [
                {"action": "revoke_commerce", "action_id": "a" * 64, "rule_id":
                 "commerce.medical_personnel", "reason": "auditor's words", "evidence": ["e1"],
                 "event_ts": NOW - 1000, "decided_at": NOW - 900, "decision_id": "d" * 64,
                 "surfaces": ["live"], "until": "while_qualified", "notice": notice}]}  # fmt: skip

    async def worker_view(creator_id: str) -> tuple[dict, None]:
        return view, None

    console.views.view = worker_view  # type: ignore[method-assign]
    assert (await _sign_in(client)).status == 303
    page = await (await client.get("/creators/c-1")).text()
    assert 'id="platform">douyin<' in page
    decisions = page.split('id="decisions"', 1)[1].split("</table>", 1)[0]
    assert 'lang="zh-CN"' in decisions and "您的带货权限已被收回&lt;script&gt;" in decisions
    assert 'lang="en"' in decisions and "Your selling permission is withdrawn" in decisions
    assert "auditor&#39;s words" in decisions or "auditor's words" in decisions
