"""Signing in and out of the console: the sign-in form, its throttle (throttle.py, counts
in Redis), the session cookie with the reviewer's session epoch, sign-out that ends the
session on every replica, the audit lines of each, and where a sign-in may lead (`next`:
a local path only)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from pipeline.adapters.times import now_ms
from pipeline.console.auth import Session
from pipeline.console.proxy import Client, client_of
from pipeline.console.throttle import Verdict, addresses_rule, judge, names_rule

if TYPE_CHECKING:
    from pipeline.console.web import Console

SESSION_COOKIE = "livegate_session"
LOGIN_COOKIE = "livegate_login"
VERIFYING = 2  # secrets checked at once: each scrypt check takes ~128 MiB


def local_path(path: str | None) -> str:
    """A redirect target on this site only: a path, no scheme, no host, no control
    character (browsers drop TAB, CR and LF from a URL, so `/\t/host` is `//host`)."""
    if not path or not path.startswith("/") or "\\" in path:
        return "/"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        return "/"
    parts = urlsplit(path)
    if path.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return path


def client(request: web.Request) -> Client:
    """The client's address and scheme (X-Forwarded-* only from a trusted proxy)."""
    found: Client | None = request.get("client")
    if found is None:
        console: Console = request.app["console"]
        found = client_of(request.remote, request.headers, request.secure,
                          console.cs.trusted_proxies)  # fmt: skip
        request["client"] = found
    return found


async def session_of(console: Console, request: web.Request) -> Session | None:
    """The request's session: signed, not expired, a reviewer of the users file, and of
    the reviewer's current epoch (a sign-out anywhere ended the older ones)."""
    session = console.signer.session(request.cookies.get(SESSION_COOKIE), now_ms())
    if session is None or session.reviewer_id not in console.users:
        return None
    try:
        epoch = await console.store.epoch(session.reviewer_id)
    except Exception as exc:  # fail closed: no session without the store's word
        raise web.HTTPServiceUnavailable(
            text=f"the session store (Redis) did not answer ({type(exc).__name__})\n"
        ) from None
    return session if epoch == session.epoch else None


def login_form(request: web.Request, status: int = 200, error: str | None = None,
               next_path: str = "/") -> web.Response:  # fmt: skip
    console: Console = request.app["console"]
    # Keep the nonce of an earlier form: a second GET (another tab, a favicon fetch sent
    # to /login) must not void the form already shown.
    nonce = request.cookies.get(LOGIN_COOKIE) or console.signer.new_nonce()
    response = console.render(
        request, "login.html", status, error=error, next_path=local_path(next_path),
        login_csrf=console.signer.csrf("login." + nonce),
    )  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=900, httponly=True, samesite="Strict",
                        secure=client(request).secure, path="/login")  # fmt: skip
    return response


async def login_page(request: web.Request) -> web.Response:
    return login_form(request, next_path=request.query.get("next", "/"))


async def login(request: web.Request) -> web.Response:
    try:
        return await _login(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # the store (Redis) did not answer: no sign-in unchecked
        return login_form(
            request, 503,
            f"Sign-in cannot be checked now: the session store did not answer "
            f"({type(exc).__name__}). Try again shortly.",
        )  # fmt: skip


async def _login(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    form = await request.post()
    next_path = local_path(str(form.get("next") or "/"))
    nonce = request.cookies.get(LOGIN_COOKIE)
    token = form.get("csrf")
    if not nonce or not console.signer.csrf_ok("login." + nonce, str(token or "")):
        return login_form(request, 403, "The sign-in form expired: try again.", next_path)
    reviewer, password = str(form.get("reviewer_id") or ""), str(form.get("password") or "")
    where = client(request).address
    now = now_ms()
    lockout_ms = console.cs.lockout_minutes * 60_000
    rules = (names_rule(lockout_ms), addresses_rule(lockout_ms))
    subjects = [f"name:{reviewer[:256]}", f"addr:{where}"]
    labels = ("this reviewer id", "this address")
    before = await console.store.failures(subjects)
    for rule, failures, label in zip(rules, before, labels, strict=True):
        verdict = judge(rule, failures, now)
        if not verdict.allowed:
            if not verdict.locked:  # a guess made while told to wait counts; a locked-out
                await console.store.fail(subjects, now, lockout_ms)  # one does not extend
            console.audit.write("sign_in_refused", now, where, reviewer,
                                reason="locked" if verdict.locked else "throttled")  # fmt: skip
            return login_form(request, 429, verdict.message(now, label), next_path)
    async with console.verifying:
        ok = await asyncio.get_running_loop().run_in_executor(
            None, console.users.check, reviewer, password
        )
    if not ok:
        after = await console.store.fail(subjects, now, lockout_ms)
        console.audit.write("sign_in_failed", now, where, reviewer)
        error = "Wrong reviewer id or secret."
        for rule, failures, label in zip(rules, after, labels, strict=True):
            verdict: Verdict = judge(rule, failures, now)
            if not verdict.allowed:
                error = f"{error} {verdict.message(now, label)}"
                break
        return login_form(request, 401, error, next_path)
    await console.store.clear(subjects[0])
    epoch = await console.store.epoch(reviewer)
    _, cookie = console.signer.new_session(reviewer, now, epoch)
    console.audit.write("sign_in", now, where, reviewer)
    response = web.HTTPSeeOther(next_path, headers=console.headers)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=console.cs.session_ms // 1000,
        httponly=True, samesite="Strict", secure=client(request).secure, path="/",
    )  # fmt: skip
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.Response:
    """Ends the reviewer's sessions everywhere (the epoch moves), then the cookie."""
    console: Console = request.app["console"]
    session: Session = request["session"]
    await console.store.end_sessions(session.reviewer_id)
    console.audit.write("sign_out", now_ms(), client(request).address, session.reviewer_id)
    response = web.HTTPSeeOther("/login", headers=console.headers)
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
