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


def full(name, creator="c1", kind="review", status="open", **more):
    key = "review_id" if kind == "review" else "appeal_id"
    return json.dumps({"status": status, "kind": kind, "opened_at": 1_000, key: name,
                       "creator_id": creator, **more}).encode()  # fmt: skip


def test_old_format_keys_are_retired_once_their_item_moved_on():
    """CONTRACT §12: keys `creator_id:kind:id`; a record under a bare id (before v3) is
    tombstoned once closed or superseded; an open one stays until then (the console shows it)."""
    view = QueueView(ClosedSweep(window_ms=1_000))
    view.apply(b"r-open", full("r-open"))  # open, not yet superseded: kept
    view.apply(b"r-done", full("r-done", status="closed", closed_at=5))  # closed: retired
    view.apply(b"c1:review:r-moved", full("r-moved", status="closed", closed_at=5))
    view.apply(b"r-moved", full("r-moved"))  # read after its new key's record: retired
    assert view.retire == [b"r-done", b"r-moved"]
    assert view.figures(2_000)["review"] == (1, 1.0)
    view.caught_up()
    view.apply(b"c1:review:r-open", full("r-open", status="closed", closed_at=7))
    assert view.retire == [b"r-done", b"r-moved", b"r-open"]
    assert view.figures(2_000)["review"] == (0, 0.0)


def test_two_creators_items_of_one_id_are_two_items():
    view = QueueView()
    view.apply(b"c1:appeal:appeal-1", full("appeal-1", "c1", "appeal"))
    view.apply(b"c2:appeal:appeal-1", full("appeal-1", "c2", "appeal"))
    view.apply(b"c1:review:appeal-1", full("appeal-1", "c1", "review"))
    assert view.figures(1_000) == {"review": (1, 0.0), "appeal": (2, 0.0)}
    assert view.retire == []
