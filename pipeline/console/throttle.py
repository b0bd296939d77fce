"""Sign-in throttling (pure): how many failed sign-ins a reviewer id, or an address, has
had, and whether the next attempt may be checked at all.

Per subject (a reviewer id, or a client address): the first `free` failures cost nothing;
after that each failure doubles the wait before the next attempt may be checked (1 s, 2 s,
4 s, …); at `lockout_after` failures the subject is locked out for `lockout_ms` from the
last failure. An attempt refused for waiting or a lockout counts as a failure: it is a
guess the console did not check. The counts live in Redis (pipeline/console/store.py), so
every console replica sees the same ones; they expire `lockout_ms` after the last failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.adapters.times import format_ms


@dataclass(frozen=True)
class Rule:
    free: int
    lockout_after: int
    lockout_ms: int
    first_wait_ms: int = 1_000


@dataclass(frozen=True)
class Failures:
    count: int = 0
    last_ms: int = 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    until_ms: int = 0  # when the next attempt may be checked
    locked: bool = False

    def message(self, now_ms: int, subject: str) -> str:
        if self.locked:
            return (
                f"Too many failed sign-ins for {subject}: locked out until "
                f"{format_ms(self.until_ms)} ({-(-(self.until_ms - now_ms) // 60_000)} min). "
                "Ask an administrator if this was not you."
            )
        wait_s = -(-(self.until_ms - now_ms) // 1000)
        return f"Too many failed sign-ins for {subject}: wait {wait_s} s before trying again."


def judge(rule: Rule, failures: Failures, now_ms: int) -> Verdict:
    """May the next attempt be checked now?"""
    if failures.count >= rule.lockout_after:
        until = failures.last_ms + rule.lockout_ms
        return Verdict(False, until, locked=True) if now_ms < until else Verdict(True)
    if failures.count > rule.free:
        until = failures.last_ms + rule.first_wait_ms * 2 ** (failures.count - rule.free - 1)
        until = min(until, failures.last_ms + rule.lockout_ms)
        if now_ms < until:
            return Verdict(False, until)
    return Verdict(True)


def names_rule(lockout_ms: int) -> Rule:
    """A reviewer id: ten failures lock it (the eleventh attempt is refused unchecked)."""
    return Rule(free=3, lockout_after=10, lockout_ms=lockout_ms)


def addresses_rule(lockout_ms: int) -> Rule:
    """An address (many reviewers behind one NAT): more room before the waits begin, and a
    lockout only after a spray of guesses across names."""
    return Rule(free=10, lockout_after=50, lockout_ms=lockout_ms)
