"""The console's view of enforcement.queue: latest item per id, oldest open first, late marks."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from pipeline.console.queue import QueueView, Standings, format_age

MIN = 60_000
SLA = 30 * MIN


def item(name: str, opened: int, kind: str = "review", status: str = "open", **more) -> dict:
    key = "review_id" if kind == "review" else "appeal_id"
    return {"kind": kind, key: name, "creator_id": "c1", "platform": "default",
            "rule_id": "r.x", "opened_at": opened, "status": status, **more}  # fmt: skip


def feed(view, *items, key=None):
    for i in items:
        name = key or i.get("review_id") or i.get("appeal_id")
        view.apply(name.encode(), json.dumps(i).encode())


def test_open_items_oldest_first_with_age_and_late_marks():
    q = QueueView()
    now = 100 * MIN
    feed(q, item("r-new", now - 5 * MIN), item("r-old", now - 45 * MIN),
         item("a-1", now - 60 * MIN, kind="appeal"), item("r-mid", now - 30 * MIN))  # fmt: skip
    rows = q.open_rows(now, SLA).rows
    assert [r.item_id for r in rows] == ["a-1", "r-old", "r-mid", "r-new"]
    assert [r.age_ms // MIN for r in rows] == [60, 45, 30, 5]
    # late: reviews open longer than the SLA; exactly the SLA is not late; appeals have none
    assert [r.late for r in rows] == [False, True, False, False]


def test_the_latest_record_per_id_wins_and_closed_items_leave():
    q = QueueView()
    feed(q, item("r1", 10), item("r2", 20))
    feed(q, item("r1", 10, status="closed", verdict="confirm", reviewer_id="alice", closed_at=50))
    assert [r.item_id for r in q.open_rows(100, SLA).rows] == ["r2"]
    assert [i["review_id"] for i in q.closed_recently()] == ["r1"]


def test_a_tombstone_removes_and_garbage_is_counted_not_kept():
    q = QueueView()
    feed(q, item("r1", 10))
    q.apply(b"r1", None)
    q.apply(b"x", b"not json")
    q.apply(b"y", json.dumps({"kind": "other"}).encode())
    q.apply(b"z", b"[1, 2]")
    assert q.open == {} and not q.closed and q.unreadable == 3 and q.records == 5


def test_filters_by_kind_and_domain():
    q = QueueView()
    feed(q, item("r-h", 1, domain="health"), item("r-f", 2, domain="finance"),
         item("a-h", 3, kind="appeal", domain="health"))  # fmt: skip
    assert [r.item_id for r in q.open_rows(10, SLA, kind="review").rows] == ["r-h", "r-f"]
    assert [r.item_id for r in q.open_rows(10, SLA, domain="health").rows] == ["r-h", "a-h"]
    assert [r.item_id for r in q.open_rows(10, SLA, "appeal", "finance").rows] == []


def test_ties_are_ordered_by_id():
    q = QueueView()
    feed(q, item("b", 5), item("a", 5))
    assert [r.item_id for r in q.open_rows(10, SLA).rows] == ["a", "b"]


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


def test_standings_hold_the_most_recently_changed_creators_only():
    s = Standings(kept=3)
    for i in range(10):
        s.apply(f"c{i}".encode(), json.dumps({"creator_id": f"c{i}", "credit": i}).encode())
    s.apply(b"c7", json.dumps({"creator_id": "c7", "credit": 1}).encode())  # changed again
    assert list(s.by_creator) == ["c8", "c9", "c7"] and s.get("c0") is None


def test_format_age():
    assert [format_age(ms) for ms in (0, 59_000, 61_000, 3 * 3_600_000 + 5 * MIN,
                                      50 * 3_600_000)] == ["0s", "59s", "1m 01s", "3h 05m",
                                                           "2d 2h"]  # fmt: skip


def _unreadable(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("livegate_console_queue_unreadable_total", {"reason": reason})
        or 0.0
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"opened_at": "yesterday"},
        {"opened_at": 10**20},
        {"opened_at": -1},
        {"opened_at": 1.5},
        {"status": "closed", "closed_at": "soon"},
        {"status": "closed", "closed_at": 10**16},
        {"creator_id": "../x"},
        {"evidence": "e1"},
        {"status": "maybe"},
        {"review_id": None},
        {"note": {"html": 1}},
        {"platform": None},
        {"kind": "other"},
    ],
)
def test_a_malformed_item_is_skipped_counted_and_never_kept(bad):
    q = QueueView()
    feed(q, item("good", 5))
    before = _unreadable("schema")
    q.apply(b"bad", json.dumps({**item("bad", 6), **bad}).encode())
    assert _unreadable("schema") == before + 1
    assert q.unreadable == 1 and q.get("bad") is None
    assert [r.item_id for r in q.open_rows(10, SLA).rows] == ["good"]
    before = _unreadable("invalid_json")
    q.apply(b"bad", b"{not json")
    assert _unreadable("invalid_json") == before + 1


def test_fields_beyond_the_contracts_are_kept_for_the_page():
    q = QueueView()
    feed(q, item("r1", 5, platform="douyin", title="Doctor talk", score={"x": 1}))
    got = q.get("r1")
    assert got is not None and got["title"] == "Doctor talk" and got["score"] == {"x": 1}
    assert got["platform"] == "douyin" and got["opened_at"] == 5


def test_memory_follows_the_open_items_not_the_closed_history():
    q = QueueView(closed_kept=50)
    for i in range(1_000):
        status = "open" if i % 100 == 0 else "closed"
        feed(q, item(f"r{i:04d}", i, status=status, closed_at=i + 1))
    assert len(q.open) == 10 and len(q.closed) == 50
    assert [i["review_id"] for i in q.closed_recently(3)] == ["r0999", "r0998", "r0997"]


def test_pages_of_open_items_oldest_first():
    q = QueueView()
    feed(q, *(item(f"r{i:03d}", 1_000 - i) for i in range(250)))
    first = q.open_rows(10_000, SLA, per_page=100)
    assert (first.total, first.number, first.pages) == (250, 1, 3)
    assert first.rows[0].item_id == "r249" and len(first.rows) == 100
    last = q.open_rows(10_000, SLA, page=3, per_page=100)
    assert [r.item_id for r in last.rows][-1] == "r000" and len(last.rows) == 50
    assert q.open_rows(10_000, SLA, page=99, per_page=100).number == 3


def test_items_are_keyed_by_creator_kind_and_id():
    """CONTRACT §12: two creators' `appeal-1`, and an appeal reusing an open review's id, are
    separate items; a record under an item's old key (its bare id) is the same item."""
    q = QueueView()
    a1, a2 = item("appeal-1", 1, kind="appeal"), {**item("appeal-1", 2, kind="appeal"),
                                                  "creator_id": "c2"}  # fmt: skip
    review = item("appeal-1", 3)
    for i in (a1, a2, review):
        key = f"{i['creator_id']}:{i['kind']}:appeal-1"
        q.apply(key.encode(), json.dumps(i).encode())
    rows = q.open_rows(10, SLA).rows
    assert [r.key for r in rows] == [
        "c1:appeal:appeal-1",
        "c2:appeal:appeal-1",
        "c1:review:appeal-1",
    ]
    assert q.get("c2:appeal:appeal-1")["creator_id"] == "c2"
    assert q.get("appeal-1") is None  # a bare id names three items: no guess


def test_an_old_key_record_is_the_same_item_and_its_tombstone_keeps_the_new_one():
    q = QueueView()
    q.apply(b"r9", json.dumps(item("r9", 1)).encode())  # written before v3
    assert q.get("r9")["status"] == "open" and q.get("c1:review:r9") is not None
    q.apply(b"c1:review:r9", json.dumps(item("r9", 1, status="closed")).encode())
    q.apply(b"r9", None)  # the watcher retires the old key
    assert q.get("c1:review:r9")["status"] == "closed"
    assert q.open_rows(10, SLA).total == 0
