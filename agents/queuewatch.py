"""The review queue's metrics: a background task follows `enforcement.queue`."""

from __future__ import annotations

import faust

from agents.runtime import Runtime
from pipeline.adapters import metrics
from pipeline.engine.queuewatch import QueueView, follow


def attach(app: faust.App, rt: Runtime) -> None:
    view = QueueView()
    metrics.REVIEW_SLA.set(rt.policy.review_sla_ms / 1000)

    async def follow_queue() -> None:
        await follow(rt.settings, view)

    app.task(follow_queue)
