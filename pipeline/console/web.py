"""The console's aiohttp application: sign-in, the queue, an item with its verdict form,
a creator's page. Every page but /login needs a signed session; every POST a CSRF token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import prometheus_client
from aiohttp import web
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from pipeline.adapters import certstore, kafka
from pipeline.adapters.times import format_ms, now_ms
from pipeline.console import pages, signin
from pipeline.console.audit import AuditLog
from pipeline.console.auth import Session, Signer, Users
from pipeline.console.config import ConsoleSettings, ReviewSla
from pipeline.console.feeds import Follower, WorkerViews, console_topics, valid_creator_id
from pipeline.console.queue import KINDS, MAX_MS, QueueView, Standings, format_age, is_open
from pipeline.console.signin import VERIFYING
from pipeline.console.store import ConsoleStore, RedisConsoleStore
from pipeline.console.verdicts import (
    NOTE_REQUIRED,
    VERDICTS,
    VerdictRefused,
    build_verdict,
    new_verdict_id,
    valid_verdict_id,
)
from pipeline.domain.events import DOMAINS
from pipeline.domain.signing import sign

OPEN_PATHS = frozenset({"/login", "/metrics"})  # /metrics: counters only, as the worker's
SENT_KEPT = 10_000  # verdicts remembered for the "waiting for the pipeline" note
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
}


class Console:
    """Everything the handlers share: settings, the topic views, the clients."""

    headers = HEADERS

    def __init__(
        self, cs: ConsoleSettings, users: Users, sla: ReviewSla, store: ConsoleStore | None = None
    ) -> None:
        self.cs, self.users, self.sla = cs, users, sla
        self.store: ConsoleStore = store  # type: ignore[assignment]  # made in start() if None
        self.audit = AuditLog(cs.audit_path)
        self.verifying = asyncio.Semaphore(VERIFYING)
        secret = cs.secret.reveal().encode() if cs.secret else os.urandom(32)
        self.signer = Signer(secret, cs.session_ms)
        self.queue = QueueView()
        self.standings = Standings()
        self.followers = [
            Follower(cs, cs.queue_topic, self.queue.apply),
            Follower(cs, cs.restrictions_topic, self.standings.apply),
        ]
        self.views = WorkerViews(cs)
        self.producer: AIOKafkaProducer
        self.redis: Redis
        self.certs: certstore.CertStore
        self.sent: dict[str, tuple[str, str, int]] = {}  # item id -> (verdict, reviewer, ts)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("pipeline.console", "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
        )
        self.templates.filters.update(time=_time, age=format_age, until=_until, json=_json)

    async def start(self) -> None:
        await kafka.ensure_topics(self.cs.base, console_topics(self.cs))
        # Clients are made here, inside the running loop (aiokafka needs one).
        self.producer = kafka.producer(self.cs.base)  # default partitioner: murmur2 (§1)
        self.redis = certstore.connect(self.cs.base)
        self.certs = certstore.CertStore(self.redis, self.cs.base)
        if self.store is None:
            self.store = RedisConsoleStore(self.redis, self.cs.base.redis_prefix)
        await self.producer.start()
        for follower in self.followers:
            await follower.start()
        await self.views.start()

    async def stop(self) -> None:
        for follower in self.followers:
            await follower.stop()
        await self.producer.stop()
        await self.views.stop()
        await self.redis.aclose()
        self.audit.close()

    def render(
        self, request: web.Request, template: str, status: int = 200, **context: Any
    ) -> web.Response:
        session: Session | None = request.get("session")
        html = self.templates.get_template(template).render(
            reviewer=session.reviewer_id if session else None,
            csrf=self.signer.csrf(session.nonce) if session else "",
            sla=self.sla,
            now=now_ms(),
            **context,
        )
        return web.Response(text=html, status=status, content_type="text/html", headers=HEADERS)


def _time(value: Any) -> str:
    """A time in ms as text; anything else (a stored value of the wrong type or out of
    range) as a dash, never an error that takes the page down."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_MS:
        return format_ms(value)
    return "-" if value is None else "?"


def _until(value: Any) -> str:
    if value is None or value == "permanent":
        return "permanent"
    if value == "while_qualified":
        return "while qualified"
    return _time(value) if isinstance(value, int) else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def make_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[_auth_middleware(console)])
    app["console"] = console

    async def lifecycle(_: web.Application) -> Any:
        await console.start()
        yield
        await console.stop()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(
        [
            web.get("/login", signin.login_page),
            web.post("/login", signin.login),
            web.post("/logout", signin.logout),
            web.get("/", _queue_page),
            web.get("/items/{item_id}", _item_page),
            web.post("/items/{item_id}/verdict", _verdict),
            web.get("/creators/{creator_id}", _creator_page),
            web.get("/metrics", _metrics),
        ]
    )
    return app


def _auth_middleware(console: Console) -> Any:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        session = await signin.session_of(console, request)
        if session is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
            raise web.HTTPUnauthorized(text="sign in first\n", headers=HEADERS)
        request["session"] = session
        if request.method == "POST":
            form = await request.post()
            token = form.get("csrf")
            if not console.signer.csrf_ok(session.nonce, token if isinstance(token, str) else None):
                raise web.HTTPForbidden(text="missing or wrong CSRF token\n", headers=HEADERS)
            request["form"] = form
        return await handler(request)

    return auth


def _console(request: web.Request) -> Console:
    console: Console = request.app["console"]
    return console


async def _queue_page(request: web.Request) -> web.Response:
    console = _console(request)
    kind = request.query.get("kind") or None
    domain = request.query.get("domain") or None
    kind = kind if kind in KINDS else None
    domain = domain if domain in DOMAINS else None
    raw_page = request.query.get("page", "1")
    number = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 else 1
    page = console.queue.open_rows(now_ms(), console.sla.ms, kind, domain, number)
    filters = {k: v for k, v in (("kind", kind), ("domain", domain)) if v}
    return console.render(
        request, "queue.html", page=page, rows=page.rows, kind=kind, domain=domain,
        kinds=KINDS, domains=DOMAINS, closed=console.queue.closed_recently(), late=page.late,
        followed=console.followers[0].read, topic=console.cs.queue_topic,
        unreadable=console.queue.unreadable,
        prev_url=_page_url(filters, page.number - 1) if page.number > 1 else None,
        next_url=_page_url(filters, page.number + 1) if page.number < page.pages else None,
    )  # fmt: skip


def _page_url(filters: dict[str, str], number: int) -> str:
    return "/?" + urlencode({**filters, "page": str(number)})


async def _item_page(request: web.Request) -> web.Response:
    return await _render_item(request, request.match_info["item_id"])


async def _render_item(
    request: web.Request, name: str, status: int = 200, error: str | None = None,
    note: str = "", event_id: str = "",
) -> web.Response:  # fmt: skip
    console = _console(request)
    item = console.queue.get(name)
    if item is None:
        return console.render(request, "missing.html", 404, name=name)
    view, view_error = await console.views.view(str(item.get("creator_id")))
    sent = console.sent.get(name)
    waiting = sent is not None and is_open(item)
    return console.render(
        request, "item.html", status, item=item, name=name, error=error, note=note,
        verdicts=VERDICTS.get(str(item.get("kind")), ()), note_required=NOTE_REQUIRED,
        stream=pages.stream_of(item, view), reports=pages.reports_of(item, view),
        appealed=pages.appealed_action(item, view),
        more=pages.more_fields(item), view_error=view_error, sent=sent, waiting=waiting,
        event_id=event_id if valid_verdict_id(event_id) else new_verdict_id(),
        late=is_open(item) and item["kind"] == "review"
        and now_ms() - item["opened_at"] > console.sla.ms,
    )  # fmt: skip


async def _verdict(request: web.Request) -> web.Response:
    console = _console(request)
    session: Session = request["session"]
    form = request["form"]
    name = request.match_info["item_id"]
    item = console.queue.get(name)
    if item is None:
        return console.render(request, "missing.html", 404, name=name)
    verdict, note = str(form.get("verdict") or ""), str(form.get("note") or "")
    event_id = str(form.get("event_id") or "")
    try:
        # reviewer_id is the signed-in reviewer's, whatever the form says.
        key, event = build_verdict(
            item, verdict, session.reviewer_id, note, now_ms(), event_id,
            console.users.role(session.reviewer_id),
        )  # fmt: skip
    except VerdictRefused as refused:
        status = {"stale": 409, "role": 403}.get(refused.code, 400)
        return await _render_item(request, name, status, str(refused), note, event_id)
    signed = sign(event, *console.cs.base.verdict_key)  # CONTRACT §12: the worker checks it
    await console.producer.send_and_wait(
        console.cs.reviews_topic, json.dumps(signed, ensure_ascii=False).encode(), key=key
    )
    console.audit.write(
        "verdict", event["ts"], signin.client(request).address, session.reviewer_id,
        item=name, kind=item["kind"], verdict=verdict, event_id=event["event_id"],
        creator_id=event["creator_id"],
    )  # fmt: skip
    console.sent[name] = (verdict, session.reviewer_id, event["ts"])
    while len(console.sent) > SENT_KEPT:  # oldest first (insertion order)
        del console.sent[next(iter(console.sent))]
    raise web.HTTPSeeOther(f"/items/{quote(name, safe='')}", headers=HEADERS)


async def _creator_page(request: web.Request) -> web.Response:
    console = _console(request)
    creator_id = request.match_info["creator_id"]
    if not valid_creator_id(creator_id):
        return console.render(request, "missing.html", 404, name=creator_id, what="creator id")
    now = now_ms()
    view, view_error = await console.views.view(creator_id)
    try:
        certs = pages.certifications(await console.certs.snapshot(creator_id), now)
        certs_error = None
    except Exception as exc:  # Redis down: the rest of the page still helps
        certs, certs_error = [], f"Redis did not answer ({type(exc).__name__})"
    snapshot = console.standings.get(creator_id)
    return console.render(
        request, "creator.html", creator_id=creator_id, view=view, view_error=view_error,
        standing=pages.standing(snapshot, view, now), snapshot=snapshot, certs=certs,
        certs_error=certs_error, decisions=pages.decisions(view),
        items=console.queue.of_creator(creator_id), exemptions=pages.exemptions(view),
    )  # fmt: skip


async def _metrics(_: web.Request) -> web.Response:
    body = prometheus_client.generate_latest()
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def serve(console: Console, host: str, port: int, ready: Callable[[str], None]) -> None:
    runner = web.AppRunner(make_app(console), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        ready(f"http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()
