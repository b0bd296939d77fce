"""The console's view of enforcement.queue: latest item per id, oldest open first, late marks."""

from __future__ import annotations

import json

from pipeline.console.queue import QueueView, Standings, format_age

MIN = 60_000
SLA = 30 * MIN


def item(name: str, opened: int, kind: str = "review", status: str = "open", **more) -> dict:
    key = "review_id" if kind == "review" else "appeal_id"
    return {"kind": kind, key: name, "creator_id": "c1", "opened_at": opened, "status": status,
            **more}  # fmt: skip


def feed(view, *items, key=None):
    for i in items:
        name = key or i.get("review_id") or i.get("appeal_id")
        view.apply(name.encode(), json.dumps(i).encode())


def test_open_items_oldest_first_with_age_and_late_marks():
    q = QueueView()
    now = 100 * MIN
    feed(q, item("r-new", now - 5 * MIN), item("r-old", now - 45 * MIN),
         item("a-1", now - 60 * MIN, kind="appeal"), item("r-mid", now - 30 * MIN))  # fmt: skip
    rows = q.open_rows(now, SLA)
    assert [r.item_id for r in rows] == ["a-1", "r-old", "r-mid", "r-new"]
    assert [r.age_ms // MIN for r in rows] == [60, 45, 30, 5]
    # late: reviews open longer than the SLA; exactly the SLA is not late; appeals have none
    assert [r.late for r in rows] == [False, True, False, False]


def test_the_latest_record_per_id_wins_and_closed_items_leave():
    q = QueueView()
    feed(q, item("r1", 10), item("r2", 20))
    feed(q, item("r1", 10, status="closed", verdict="confirm", reviewer_id="alice", closed_at=50))
    assert [r.item_id for r in q.open_rows(100, SLA)] == ["r2"]
    assert [i["review_id"] for i in q.closed_recently()] == ["r1"]


def test_a_tombstone_removes_and_garbage_is_counted_not_kept():
    q = QueueView()
    feed(q, item("r1", 10))
    q.apply(b"r1", None)
    q.apply(b"x", b"not json")
    q.apply(b"y", json.dumps({"kind": "other"}).encode())
    q.apply(b"z", b"[1, 2]")
    assert q.items == {} and q.unreadable == 3 and q.records == 5


def test_filters_by_kind_and_domain():
    q = QueueView()
    feed(q, item("r-h", 1, domain="health"), item("r-f", 2, domain="finance"),
         item("a-h", 3, kind="appeal", domain="health"))  # fmt: skip
    assert [r.item_id for r in q.open_rows(10, SLA, kind="review")] == ["r-h", "r-f"]
    assert [r.item_id for r in q.open_rows(10, SLA, domain="health")] == ["r-h", "a-h"]
    assert [r.item_id for r in q.open_rows(10, SLA, "appeal", "finance")] == []


def test_ties_are_ordered_by_id():
    q = QueueView()
    feed(q, item("b", 5), item("a", 5))
    assert [r.item_id for r in q.open_rows(10, SLA)] == ["a", "b"]


def test_of_creator_lists_open_first():
    q = QueueView()
    feed(q, item("r1", 1, status="closed"), item("r2", 2), item("r3", 3))
    q.apply(b"other", json.dumps({**item("r4", 4), "creator_id": "c2"}).encode())
    assert [i["review_id"] for i in q.of_creator("c1")] == ["r3", "r2", "r1"]


def test_standings_keep_the_latest_snapshot_per_creator():
    s = Standings()
    s.apply(b"c1", json.dumps({"creator_id": "c1", "credit": 12}).encode())
    s.apply(b"c1", json.dumps({"creator_id": "c1", "credit": 8}).encode())
    s.apply(b"c2", b"{bad")
    assert s.get("c1") == {"creator_id": "c1", "credit": 8} and s.get("c2") is None
    s.apply(b"c1", None)
    assert s.get("c1") is None


def test_format_age():
    assert [format_age(ms) for ms in (0, 59_000, 61_000, 3 * 3_600_000 + 5 * MIN,
                                      50 * 3_600_000)] == ["0s", "59s", "1m 01s", "3h 05m",
                                                           "2d 2h"]  # fmt: skip
