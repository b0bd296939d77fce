"""The standing hook: after a decision, the restrictions snapshot (when credit or
restrictions changed) and the queue items it opened or closed, on their topics and keys."""

import json

from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.engine.standing import StandingHook
from tests.unit.domain.builders import (
    CREATOR,
    chain,
    decide_raw,
    only,
    review,
    started,
)  # fmt: skip

SETTINGS = Settings()
RECORD = Record("live.streams", 0, 1, CREATOR.encode(), b"{}", 0, "live")


def outputs(decision, event):
    return [(o.topic, o.key, json.loads(o.value), o.partition)
            for o in StandingHook(SETTINGS)(event, decision, {}, RECORD)]  # fmt: skip


def test_a_flag_writes_the_snapshot_and_opens_an_item():
    ev = started(category="gaming", title="ask a doctor")
    (d,) = chain([ev])
    (snap, item) = outputs(d, ev)
    assert snap[:2] == ("enforcement.restrictions", CREATOR.encode()) and snap[3] is None
    assert snap[2]["credit"] == 12 and snap[2]["recommendation_limited_until"] == ev.ts + 86_400_000
    assert snap[2]["banned_until"] is None and snap[2]["commerce_revoked"] == {}
    assert snap[2]["updated_at"] == ev.ts and snap[2]["policy_version"] == d.standing.policy_version
    flag = only(d, "flag_for_review")
    # CONTRACT §12: keyed by creator, kind and id (ids are unique per creator only).
    assert item[:2] == ("enforcement.queue", f"{CREATOR}:review:{flag.action_id}".encode())
    assert item[2]["status"] == "open" and item[2]["kind"] == "review"


def test_a_decision_that_changes_no_standing_writes_nothing():
    ev = started(category="gaming", title="minecraft")
    (d,) = chain([ev])
    assert outputs(d, ev) == []


def test_a_verdict_closes_the_item_and_times_it():
    from pipeline.adapters import metrics

    ev = started(category="gaming", title="ask a doctor")
    (d,) = chain([ev])
    verdict = review(only(d, "flag_for_review").action_id, "dismiss")
    closed = decide_raw(verdict, {}, d.new_state)
    before = metrics.QUEUE_TIME_TO_VERDICT.labels("review")._sum.get()
    out = outputs(closed, verdict)
    assert [o[0] for o in out] == ["enforcement.restrictions", "enforcement.queue"]
    assert out[1][2]["status"] == "closed" and out[1][2]["closed_at"] == verdict.ts
    assert out[0][2]["recommendation_limited_until"] is None
    waited = metrics.QUEUE_TIME_TO_VERDICT.labels("review")._sum.get() - before
    assert waited == (verdict.ts - ev.ts) / 1000
