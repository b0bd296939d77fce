"""The worker's HTTP interface: GET /creators/{creator_id} (answered by the partition's owner:
Faust's table_route forwards the request to the worker that holds the creator's state),
/healthz, /readyz, /metrics (Faust's Prometheus sensor) and /openapi.json.

With LIVEGATE_WEB_TOKEN set, every path but /metrics, /healthz and /readyz needs
`Authorization: Bearer <token>`, Faust's own views included (a middleware guards them all);
Faust's introspection views (/router, /table, /graph, statistics) are not served at all.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiohttp import web as aioweb
from faust.web import Request, Response, View

from agents import openapi
from agents.readiness import readiness
from agents.runtime import Runtime
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.state import decode_state
from pipeline.domain.view import creator_view

OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]


def faust_web_options(settings: Settings) -> dict[str, Any]:
    """Faust options for the web server: no introspection views, every request guarded."""
    return {
        "web_router_enabled": False,  # table_route forwards without it (app.router.key_store)
        "web_tables_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "web_metrics_enabled": False,
        "web_application_options": {"middlewares": [guard(settings)]},
    }


def authorized(settings: Settings, authorization: str | None) -> bool:
    token = settings.web_token
    if token is None:
        return True
    # aiohttp keeps a header's bytes that are not UTF-8 as surrogates: compare the bytes.
    given = (authorization or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {token.reveal()}".encode())


def guard(settings: Settings) -> Callable[[aioweb.Request, Handler], Awaitable[Any]]:
    @aioweb.middleware
    async def middleware(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
        if request.path in OPEN_PATHS or authorized(settings, request.headers.get("Authorization")):
            return await handler(request)
        return aioweb.json_response(
            {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )

    return middleware


def attach(app: faust.App, rt: Runtime) -> None:
    table = rt.states.table

    @app.page("/creators/{creator_id}")
    class CreatorPage(View):
        @app.table_route(table=table, match_info="creator_id")
        async def get(self, request: Request, creator_id: str) -> Response:
            raw = rt.states.get(creator_id.encode())
            if raw is None:
                return self.json({"error": f"unknown creator {creator_id!r}"}, status=404)
            certs = await rt.store.snapshot(creator_id)
            now = now_ms()
            body: dict[str, Any] = creator_view(
                creator_id, decode_state(raw), certs, rt.processor.policy, now
            )
            return self.json(body)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive"})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            checks = await readiness(app, rt)
            failed = [c for c in checks if not c.ok]
            body: dict[str, Any] = {
                "status": "not ready" if failed else "ready",
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
            }
            if failed:
                body["reason"] = "; ".join(f"{c.name}: {c.detail}" for c in failed)
            return self.json(body, status=503 if failed else 200)

    @app.page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            return self.json(openapi.document())
