"""The circuit breaker opens when enforcing actions jump far above normal, and closes after."""

from pipeline.engine.breaker import Breaker, BreakerConfig


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

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
    by_record_time = Breaker(config, Clock())  # processing time stands still: all at once
    by_processing_time = Breaker(config, Clock())
    held_by_record, held_by_processing = 0, 0
    for second in range(300):  # 5 minutes of traffic, 10 enforcing actions per second
        for i in range(10):
            held_by_record += by_record_time.record(1, at=second + i / 10)
            held_by_processing += by_processing_time.record(1)
    assert held_by_record == 0
    assert held_by_processing > 2500  # what a processing-time rate would have done
