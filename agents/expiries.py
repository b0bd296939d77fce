"""Expiries: a timer turns due checks from the schedule table into `expiry_due` events on an
internal topic; the agent decides them (certification.lapsed_live) like any event."""

from __future__ import annotations

import asyncio
import logging

import faust

from agents.runtime import Runtime, batch_agent
from pipeline.adapters.times import now_ms
from pipeline.engine.expiries import expiry_event

log = logging.getLogger("livegate.expiries")


def attach(app: faust.App, rt: Runtime) -> None:
    batch_agent(app, rt, rt.expiries_topic, "expiries")

    @app.timer(interval=0.5)
    async def emit_due_expiries() -> None:
        # Not while partitions move, nor from stores a recovery has not restored yet (a
        # stale schedule would re-emit checks their owner already emitted and cleared).
        if not rt.processor.ready.is_set() or not rt.fence.restored():
            return
        due = rt.schedule.due(now_ms())
        if not due:
            return
        futures = []
        for key, expiry in due:
            _, value = expiry_event(key.decode(), expiry)
            futures.append(await app.producer.send(
                rt.expiries_topic.get_topic_name(), key, value, None, None, None))  # fmt: skip
        try:
            await asyncio.gather(*futures)
        except Exception as exc:
            log.error("producing expiry checks failed (%r); retrying", exc)
            return
        try:
            cleared = []
            for key, expiry in due:
                cleared.extend(await rt.schedule.done(key, [expiry]))
            await asyncio.gather(*cleared)
        except Exception as exc:  # the checks are emitted again next tick
            log.error("clearing emitted expiry checks failed (%r)", exc)
