"""The circuit breaker opens when enforcing actions jump far above normal, and closes after."""

from pipeline.engine.breaker import Breaker, BreakerConfig


class Clock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_steady_rate_never_opens_it():
    clock = Clock()
    b = Breaker(BreakerConfig(window_s=10, baseline_s=600, factor=10, floor=200), clock)
    for _ in range(6000):  # one enforcing action every 0.1 s = 100 per window
        clock.t += 0.1
        assert b.record(1) is False


def test_a_jump_far_above_normal_holds_and_a_return_to_normal_releases():
    clock = Clock()
    b = Breaker(BreakerConfig(window_s=10, baseline_s=600, factor=10, floor=20), clock)
    for _ in range(600):  # normal: 1 per second = 10 per window
        clock.t += 1
        b.record(1)
    held = [b.record(1) for _ in range(150)]  # a burst in the same instant
    # The window already holds ~10 normal ones; up to 10 x normal (100) in all still pass.
    assert not any(held[:85])
    assert all(held[95:]) and b.is_open
    assert b.record(0) is False  # decisions without enforcing actions are never held
    clock.t += 11  # the burst leaves the window
    assert b.record(1) is False and not b.is_open


def test_the_floor_keeps_a_quiet_start_from_opening_it():
    clock = Clock()
    b = Breaker(BreakerConfig(floor=50), clock)
    assert not any(b.record(1) for _ in range(50))
    assert b.record(1) is True


def test_catching_up_a_backlog_is_not_a_spike_when_counted_by_record_time():
    config = BreakerConfig(window_s=10, baseline_s=600, factor=10, floor=200)
    # Processing time stands still, after the traffic: the backlog is read all at once.
    by_record_time = Breaker(config, Clock(10_000))
    by_processing_time = Breaker(config, Clock(10_000))
    held_by_record, held_by_processing = 0, 0
    for second in range(300):  # 5 minutes of traffic, 10 enforcing actions per second
        for i in range(10):
            held_by_record += by_record_time.record(1, at=second + i / 10)
            held_by_processing += by_processing_time.record(1)
    assert held_by_record == 0
    assert held_by_processing > 2500  # what a processing-time rate would have done


T0 = 1_800_000_000.0  # record times and the wall clock, seconds since the epoch


def test_one_future_stamped_record_does_not_freeze_the_clock():
    # issue 12 #7: with now = max(at, latest), a record stamped an hour ahead pinned the
    # clock, every later decision was counted in that one second: 18,000 of 20,000 held.
    clock = Clock(T0)
    b = Breaker(BreakerConfig(), clock)  # the defaults: 10 s window, floor 2000
    b.record(0, at=T0 + 3600)  # one (allowed) decision on a record stamped an hour ahead
    held = 0
    for i in range(20_000):  # normal traffic: 10 enforcing decisions a second
        clock.t = T0 + i / 10
        held += b.record(1, at=clock.t)
    assert held == 0
    assert b.latest <= clock.t  # the outlier never moved the clock past the wall


def test_a_backlog_read_beside_live_partitions_is_counted_at_its_own_time():
    # issue 12 #7: live partitions at 5 enforcing decisions a second; then 6,000 from a
    # backlog (an hour old, 10 minutes of traffic) read within 3 s beside them. Counted in
    # the latest second, 4,050 of the 6,000 were held; counted at their own time, none.
    clock = Clock(T0)
    b = Breaker(BreakerConfig(), clock)
    for i in range(600 * 5):
        clock.t = T0 + i / 5
        assert b.record(1, at=clock.t) is False
    base = clock.t
    held_backlog = held_live = 0
    for j in range(6000):
        clock.t = base + j * 3 / 6000
        held_backlog += b.record(1, at=base - 3600 + j * 600 / 6000)
        if j % 400 == 0:  # the live partitions go on meanwhile (5 a second)
            held_live += b.record(1, at=clock.t)
    assert (held_backlog, held_live) == (0, 0)


def test_a_spike_inside_a_backlog_is_still_held():
    # Counting a backlog at its own time must not blind the breaker to a spike in it: a
    # burst of 5,000 enforcing decisions within one second of (old) record time is held.
    clock = Clock(T0)
    b = Breaker(BreakerConfig(), clock)
    for i in range(600 * 5):
        clock.t = T0 + i / 5
        b.record(1, at=clock.t)
    burst_at = clock.t - 3600
    held = sum(b.record(1, at=burst_at + k / 10_000) for k in range(5000))
    assert held == 5000 - 2000  # everything past the floor
    assert b.record(1, at=clock.t) is False  # live traffic, at its own time, flows on


def test_the_kept_window_sums_match_a_fresh_sum_whatever_the_order_of_record_times():
    import random

    from pipeline.engine.breaker import Breaker, BreakerConfig

    rnd = random.Random(7)
    b = Breaker(BreakerConfig(window_s=10, baseline_s=60, floor=5, factor=2, max_seconds=40),
                clock=lambda: 10_000.0)  # fmt: skip
    for _ in range(3000):
        b.record(rnd.choice([0, 1, 1, 3]), 9_900 + rnd.random() * 100)  # out of order
        for first, last in list(b._sums):
            assert b._sums[(first, last)] == sum(b.counts.get(s, 0) for s in range(first, last + 1))
