"""The standing hook (a `Processor` hook): after each decision, the records of CONTRACT §9
that are not actions — the creator's standing on `enforcement.restrictions` when the
decision changed credit or restrictions, and each review or appeal item it opened or
closed on `enforcement.queue`. Both topics are compacted: the latest record per key is
the truth, so a redelivered batch that emits them again changes nothing."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.adapters import metrics
from pipeline.adapters.settings import Settings
from pipeline.domain.decide import Decision
from pipeline.domain.events import Event
from pipeline.domain.queue import encode_item
from pipeline.engine.outbox import OutRecord

_ENCODER = msgspec.json.Encoder()


class StandingHook:
    def __init__(self, settings: Settings) -> None:
        self.restrictions = settings.topics.restrictions
        self.queue = settings.topics.queue

    def __call__(
        self, event: Event, decision: Decision, certs: Any, record: Any
    ) -> list[OutRecord]:
        out: list[OutRecord] = []
        if decision.standing is not None:
            key = event.creator_id.encode()
            out.append(OutRecord(self.restrictions, key, _ENCODER.encode(decision.standing)))
        for item in decision.queue:
            out.append(OutRecord(self.queue, item.key.encode(), encode_item(item)))
            if item.verdict is not None and item.closed_at is not None:
                waited = max(0, item.closed_at - item.opened_at) / 1000
                metrics.QUEUE_TIME_TO_VERDICT.labels(item.kind).observe(waited)
        return out
