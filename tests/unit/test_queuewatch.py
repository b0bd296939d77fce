"""The queue view behind the queue metrics: open items from the compacted topic, latest wins."""

import json

from pipeline.engine.queuewatch import ClosedSweep, QueueView


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


def test_a_closed_item_is_due_for_a_tombstone_once_the_window_has_passed():
    sweep = ClosedSweep(window_ms=1_000)
    view = QueueView(sweep)
    closed = {"status": "closed", "kind": "review", "opened_at": 1, "closed_at": 5_000}
    view.apply(b"r1", json.dumps(closed).encode())
    view.apply(b"r2", json.dumps({**closed, "closed_at": 9_000}).encode())
    view.apply(b"r3", item("open"))
    view.apply(b"r4", json.dumps({**closed, "closed_at": "soon"}).encode())  # unreadable time
    assert sweep.take_due(5_999) == []
    assert sweep.take_due(6_000) == [b"r1"]
    assert sweep.take_due(6_000) == []  # each once
    view.apply(b"r2", None)  # tombstoned meanwhile (by another worker)
    assert sweep.take_due(10**9) == []
