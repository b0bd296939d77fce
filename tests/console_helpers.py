"""Test helpers for the review console: a real `livegate console` process, signing in over
HTTP, and the queue items and snapshots the pipeline writes (CONTRACT §9), built here so
tests can stand in for the pipeline until its part runs beside them."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from pipeline.adapters.settings import env_var_for_topic
from pipeline.console.auth import hash_password
from tests.helpers import LIVEGATE, free_port, now_ms

V2_TOPICS = ("moderation.reviews", "enforcement.queue", "enforcement.restrictions")
REVIEWERS = {"alice": "alice-secret-1", "bob": "bob-secret-22"}


def console_env(base_env: dict[str, str], uid: str, tmp: Path, worker_url: str = "") -> dict:
    """The test's isolated environment plus the console's: the v2 topics under the test's
    prefix (as isolated_env names the others), a users file, a port."""
    env = dict(base_env)
    for name in V2_TOPICS:
        env.setdefault(env_var_for_topic(name), f"t{uid}.{name}")
    users = tmp / "reviewers"
    users.write_text("".join(f"{r}:{hash_password(p)}:senior\n" for r, p in REVIEWERS.items()))
    env["LIVEGATE_CONSOLE_USERS"] = str(users)
    env["LIVEGATE_CONSOLE_PORT"] = str(free_port())
    env["LIVEGATE_CONSOLE_SECRET"] = f"test-secret-{uid}-0123456789abcdef"
    env["LIVEGATE_WORKER_URL"] = worker_url
    env["LIVEGATE_CONSOLE_AUDIT_LOG"] = str(tmp / "console-audit.jsonl")
    return env


def topic(env: dict[str, str], name: str) -> str:
    return env[env_var_for_topic(name)]


class ConsoleProcess:
    """A real `livegate console` process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.url = f"http://127.0.0.1:{env['LIVEGATE_CONSOLE_PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ConsoleProcess:
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [LIVEGATE, "console"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"console exited: {self.log_path.read_text()[-3000:]}")
            if b"livegate console: http" in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise AssertionError(f"console not ready: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if hasattr(self, "log"):
            self.log.close()


def review_item(creator: str, review_id: str, opened_at: int | None = None, **more: Any) -> dict:
    """An open review item as the pipeline writes it for a flag_for_review (§9)."""
    return {
        "kind": "review", "review_id": review_id, "creator_id": creator, "platform": "default",
        "rule_id": "live.suspected", "domain": "health", "stream_id": f"s-{creator}",
        "reason": "The stream's title suggests health content and the creator holds no "
        "health qualification.", "evidence": [f"ev-{creator}-1"],
        "opened_at": now_ms() - 40 * 60_000 if opened_at is None else opened_at,
        "status": "open", **more,
    }  # fmt: skip


def appeal_item(creator: str, appeal_id: str, opened_at: int | None = None, **more: Any) -> dict:
    return {
        "kind": "appeal", "appeal_id": appeal_id, "creator_id": creator, "platform": "default",
        "action_id": "a" * 64, "rule_id": "live.unqualified",
        "statement": "I am a licensed physician; my license was renewed last week.",
        "opened_at": now_ms() - 5 * 60_000 if opened_at is None else opened_at,
        "status": "open", **more,
    }  # fmt: skip


def closed(item: dict, verdict: str, reviewer: str, note: str | None = None) -> dict:
    return {**item, "status": "closed", "verdict": verdict, "reviewer_id": reviewer,
            "note": note, "closed_at": now_ms()}  # fmt: skip


def snapshot(creator: str, credit: int, **restrictions: Any) -> dict:
    """The creator's standing as the pipeline writes it to enforcement.restrictions (§9)."""
    t = now_ms()
    return {
        "creator_id": creator, "platform": "default", "credit": credit, "banned_until": None,
        "recommendation_limited_until": None, "commerce_revoked": {}, "updated_at": t,
        "decided_at": t, "policy_version": "test", **restrictions,
    }  # fmt: skip


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_EVENT_ID = re.compile(r'name="event_id" value="([^"]+)"')


def verdict_form(html: str, verdict: str, note: str = "", **more: str) -> dict[str, str]:
    """The verdict form of an item page as the browser posts it: its CSRF token and the
    event id the page made for it."""
    found = _EVENT_ID.search(html)
    assert found, f"no verdict form on the page: {html[:500]}"
    return {"csrf": csrf_of(html), "event_id": found.group(1), "verdict": verdict,
            "note": note, **more}  # fmt: skip


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, f"no CSRF token on the page: {html[:500]}"
    return found.group(1)


def client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP address host (127.0.0.1)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, url: str, reviewer: str, password: str) -> int:
    async with http.get(f"{url}/login") as r:
        token = csrf_of(await r.text())
    form = {"csrf": token, "reviewer_id": reviewer, "password": password, "next": "/"}
    async with http.post(f"{url}/login", data=form, allow_redirects=False) as r:
        return r.status


async def page_until(
    http: aiohttp.ClientSession, url: str, needle: str, timeout: float = 30, present: bool = True
) -> str:
    """GET url until `needle` is (or is no longer) in the page; fail with the page."""
    deadline = time.monotonic() + timeout
    while True:
        async with http.get(url) as r:
            text = await r.text()
        if (needle in text) == present:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} {'never' if present else 'still'} on {url}: "
                                 f"{text[-2000:]}")  # fmt: skip
        await asyncio.sleep(0.3)
