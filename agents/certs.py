"""Agent for `certification.changes`: apply each change to Redis (ordered, idempotent), then
decide it like any event, so that a revocation cuts off live streams in its domain."""

from __future__ import annotations

import faust

from agents.app import Runtime, batch_agent


def attach(app: faust.App, rt: Runtime) -> None:
    batch_agent(app, rt, rt.settings.topics.certs, "certs", before=rt.processor.apply_cert_changes)
