"""The worker's HTTP views: GET /creators/{creator_id}, answered by the partition's owner
(Faust's table_route forwards the request to the worker that holds the creator's state)."""

from __future__ import annotations

import hmac
from typing import Any

import faust
from faust.web import Request, Response, View

from agents.runtime import Runtime
from pipeline.adapters.times import now_ms
from pipeline.domain.state import decode_state
from pipeline.domain.view import creator_view


def authorized(rt: Runtime, request: Request) -> bool:
    token = rt.settings.web_token
    if token is None:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token.reveal()}".encode())


def attach(app: faust.App, rt: Runtime) -> None:
    table = rt.states.table

    @app.page("/creators/{creator_id}")
    class CreatorPage(View):
        @app.table_route(table=table, match_info="creator_id")
        async def get(self, request: Request, creator_id: str) -> Response:
            if not authorized(rt, request):
                return self.json({"error": "unauthorized"}, status=401)
            raw = rt.states.get(creator_id.encode())
            if raw is None:
                return self.json({"error": f"unknown creator {creator_id!r}"}, status=404)
            certs = await rt.store.snapshot(creator_id)
            now = now_ms()
            body: dict[str, Any] = creator_view(
                creator_id, decode_state(raw), certs, rt.policy, now
            )
            return self.json(body)
