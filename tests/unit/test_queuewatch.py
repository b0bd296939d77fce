"""The queue view behind the queue metrics: open items from the compacted topic, latest wins."""

import json

from pipeline.engine.queuewatch import QueueView


def item(status, kind="review", opened_at=1_000):
    return json.dumps({"status": status, "kind": kind, "opened_at": opened_at}).encode()


def test_open_items_and_the_oldest_age_by_kind():
    view = QueueView()
    view.apply(b"r1", item("open", opened_at=1_000))
    view.apply(b"r2", item("open", opened_at=5_000))
    view.apply(b"a1", item("open", "appeal", 9_000))
    view.apply(b"r1", item("closed", opened_at=1_000))  # the verdict replaces the open record
    view.apply(b"r3", None)  # a tombstone of an unknown item
    view.apply(b"bad", b"not json")
    assert view.figures(65_000) == {"review": (1, 60.0), "appeal": (1, 56.0)}


def test_an_empty_queue_reports_zero():
    assert QueueView().figures(10) == {"review": (0, 0.0), "appeal": (0, 0.0)}
