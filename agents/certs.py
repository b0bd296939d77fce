"""Agent for `certification.changes`: apply each change to Redis (ordered, idempotent), then
decide it like any event, so that a revocation cuts off live streams in its domain."""

from __future__ import annotations

import faust

from agents.runtime import Runtime, batch_agent


def attach(app: faust.App, rt: Runtime) -> None:
    # The batch handler applies a batch's changes to Redis before deciding anything in it.
    batch_agent(app, rt, rt.settings.topics.certs, "certs")
