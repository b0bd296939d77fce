"""The freeze watchdog: a gap between event-loop ticks longer than the limit is sticky."""

from pipeline.engine.watchdog import FreezeWatch


def test_a_gap_longer_than_the_limit_marks_the_process_frozen_for_good():
    w = FreezeWatch(limit_s=10)
    w.last_tick = 100.0
    w._observe(105.0)
    assert w.frozen_for is None
    w._observe(116.5)
    assert w.frozen_for == 11.5
    w._observe(116.6)
    assert w.frozen_for == 11.5


def test_ticks_within_the_limit_never_mark_it():
    w = FreezeWatch(limit_s=10)
    w.last_tick = 0.0
    for t in range(1, 100):
        w._observe(t * 9.9)
    assert w.frozen_for is None


def test_before_it_starts_nothing_is_a_freeze():
    """The time between building the worker and its first assignment is its start-up (a
    long restore, say), not a freeze."""
    w = FreezeWatch(limit_s=10)
    w.last_tick -= 60
    assert w.frozen() is None
