"""The review queue's metrics and the sweep of closed items: a background task follows
`enforcement.queue` and tombstones closed items once the appeal window has passed."""

from __future__ import annotations

import faust

from agents.runtime import Runtime
from pipeline.adapters import metrics
from pipeline.engine.queuewatch import ClosedSweep, QueueView, follow


def attach(app: faust.App, rt: Runtime) -> None:
    view = QueueView(ClosedSweep(rt.policy.appeal_window_ms))
    metrics.REVIEW_SLA.set(rt.policy.review_sla_ms / 1000)

    async def follow_queue() -> None:
        await follow(rt.settings, view)

    app.task(follow_queue)
