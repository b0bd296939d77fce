"""Shadow mode: a candidate policy decides beside the active one and never acts.

The hook runs after each real decision (`Processor.hooks`). It decides the same event with
the candidate policy, the same certification snapshot and the creator state the active
decision read (`state_before`), and returns one record for `enforcement.shadow`; nothing
goes to `enforcement.actions`. The shadow keeps no evolving state of its own: every shadow
decision starts from the active policy's state, so it answers "what would the candidate do
with this event, now", not "where would the candidate have led this creator" (that is what
`livegate replay whatif` answers, from the recorded history).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from pipeline.adapters import metrics
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.actions import Action, action_subject
from pipeline.domain.activation import PolicyBook, version_clock
from pipeline.domain.audit import GENESIS, ActiveDecision, Source, decision_record, seal
from pipeline.domain.decide import Decision, decide
from pipeline.domain.events import KIND_OF_TYPE, Event, event_type
from pipeline.domain.policy import Policy
from pipeline.domain.state import state_from_view
from pipeline.engine.outbox import OutRecord

log = logging.getLogger("livegate.shadow")


def action_keys(actions: list[Action]) -> set[tuple[str, str, str]]:
    """What an action set means, independent of policy version and time: (action, rule, subject)."""
    return {(a.action, a.rule_id, action_subject(a.creator_id, a.stream_id, a.link_id))
            for a in actions}  # fmt: skip


class ShadowHook:
    def __init__(
        self,
        settings: Settings,
        candidate: Policy,
        active: Policy,
        clock: Callable[[], int] = now_ms,
        book: Callable[[], PolicyBook] | None = None,
    ) -> None:
        self.topic = settings.topics.shadow
        self.candidate = candidate
        self.active = active
        self.clock = clock
        # v3 (CONTRACT §10): the activated versions; the active decision of an event is the
        # version in force at its version clock.
        self.book = book
        self.seal_key = settings.seal_key

    def __call__(
        self, event: Event, decision: Decision, certs: Any, record: Any
    ) -> list[OutRecord]:
        # Whatever goes wrong here must not touch the real decision: log and go on.
        try:
            return self._shadow(event, decision, certs, record)
        except Exception:
            log.exception("shadow decision of %s failed", event.event_id)
            return []

    def _shadow(self, event: Event, active: Decision, certs: Any, record: Any) -> list[OutRecord]:
        now = self.clock()
        state = state_from_view(active.state_before)
        shadow = decide(event, certs, state, self.candidate, now)
        if shadow is None:  # cannot happen: the rebuilt state remembers no event ids
            return []
        etype = event_type(event)
        kind = KIND_OF_TYPE.get(etype, "unknown")
        agrees = action_keys(shadow.actions) == action_keys(active.actions)
        version = self.active.version
        if self.book is not None:
            clock = version_clock(event.ts, getattr(record, "timestamp_ms", None))
            version = self.book().at(clock).version
        metrics.SHADOW_DECISIONS.labels(kind).inc()
        if not agrees:
            metrics.SHADOW_DISAGREEMENTS.labels(kind).inc()
        body = decision_record(
            event, shadow, self.candidate.version, now,
            Source(record.topic, record.partition, record.offset),
            actions=[msgspec.to_builtins(a) for a in shadow.actions],
            active=ActiveDecision(
                policy_version=version, outcome=active.outcome,
                action_ids=[a.action_id for a in active.actions],
                rule_ids=list(active.rule_ids),
            ),
            agrees=agrees,
        )  # fmt: skip
        key = event.creator_id.encode()
        # Sealed on its own (no chain: prev_hash is 64 zeros), so it reads as LiveGate's.
        value, _ = seal(body, GENESIS, self.seal_key)
        # Partition by key (murmur2), like the inputs: never a partition the topic lacks.
        return [OutRecord(self.topic, key, value)]


def install(settings: Settings, active: Policy, processor: Any) -> Policy | None:
    """Load the shadow policy (LIVEGATE_SHADOW_POLICY) and hook it into the processor."""
    if settings.shadow_policy_path is None:
        return None
    from pipeline.adapters.policyfile import load_policy_file

    candidate = load_policy_file(settings.shadow_policy_path)
    processor.hooks.append(ShadowHook(settings, candidate, active, book=lambda: processor.book))
    log.info("shadow policy %s runs beside %s", candidate.version, active.version)
    return candidate
