"""Sign-in throttling: free failures, doubling waits, then a lockout of stated length."""

from __future__ import annotations

from pipeline.console.throttle import Failures, addresses_rule, judge, names_rule

MIN = 60_000
NAMES = names_rule(15 * MIN)


def test_three_failures_are_free_then_each_doubles_the_wait():
    assert judge(NAMES, Failures(3, 1_000), 1_000).allowed
    waits = [judge(NAMES, Failures(n, 0), 0).until_ms for n in range(4, 10)]
    assert waits == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]
    assert judge(NAMES, Failures(5, 0), 1_999).allowed is False
    assert judge(NAMES, Failures(5, 0), 2_000).allowed


def test_ten_failures_lock_the_name_for_the_stated_time_and_say_so():
    verdict = judge(NAMES, Failures(10, 0), 1)
    assert not verdict.allowed and verdict.locked and verdict.until_ms == 15 * MIN
    text = verdict.message(1, "this reviewer id")
    assert "locked out until 1970-01-01T00:15:00Z (15 min)" in text
    assert judge(NAMES, Failures(10, 0), 15 * MIN).allowed  # over


def test_an_address_has_more_room_before_waits_and_lockout():
    rule = addresses_rule(15 * MIN)
    assert judge(rule, Failures(10, 0), 0).allowed
    assert not judge(rule, Failures(11, 0), 0).allowed
    assert judge(rule, Failures(50, 0), 0).locked
