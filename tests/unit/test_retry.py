"""The one retry helper: backoff doubles up to its cap; only the named errors are retried."""

import pytest

from pipeline.adapters.retry import retry


async def test_retries_named_errors_with_a_doubling_capped_delay():
    delays: list[float] = []
    reported: list[str] = []
    attempts = iter([OSError("a"), OSError("b"), OSError("c"), OSError("d"), "done"])

    async def op():
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(d: float) -> None:
        delays.append(d)

    result = await retry(op, on=(OSError,), report=lambda e: reported.append(str(e)),
                         first_delay=0.5, max_delay=1.5, sleep=sleep)  # fmt: skip
    assert result == "done"
    assert reported == ["a", "b", "c", "d"]
    assert delays == [0.5, 1.0, 1.5, 1.5]


async def test_other_errors_escape_at_once():
    async def op():
        raise KeyError("bug")

    async def sleep(d: float) -> None:
        raise AssertionError("must not wait")

    with pytest.raises(KeyError):
        await retry(op, on=(OSError,), report=lambda e: None, sleep=sleep)


async def test_with_attempts_the_last_failure_escapes_unreported():
    delays: list[float] = []
    reported: list[str] = []
    calls = 0

    async def op():
        nonlocal calls
        calls += 1
        raise OSError(f"try {calls}")

    async def sleep(d: float) -> None:
        delays.append(d)

    with pytest.raises(OSError, match="try 3"):
        await retry(op, on=(OSError,), report=lambda e: reported.append(str(e)),
                    first_delay=0.5, max_delay=0.5, sleep=sleep, attempts=3)  # fmt: skip
    assert calls == 3
    assert reported == ["try 1", "try 2"]
    assert delays == [0.5, 0.5]
