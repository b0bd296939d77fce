"""The adaptive fetch (pipeline/adapters/faust/fetching.py): each fetch request's wait and
minimum size chosen from what the previous one brought, driven with a fake aiokafka
fetcher (the requests' parameters are what the broker sees)."""

from __future__ import annotations

from typing import Any

from pipeline.adapters.faust.fetching import (
    BUSY_MIN_BYTES,
    IDLE_WAIT_MS,
    AdaptiveFetch,
)


class Buffered:
    def __init__(self, backoff: float) -> None:
        self.backoff = backoff

    def calculate_backoff(self) -> float:
        return self.backoff


class FakeFetcher:
    """aiokafka's Fetcher, as far as AdaptiveFetch touches it."""

    def __init__(self) -> None:
        self._fetch_max_wait_ms = 1500
        self._fetch_min_bytes = 1
        self._records: dict[str, Buffered] = {}
        self.requests: list[tuple[int, int]] = []  # (max wait, min bytes) of each request
        self.answers: list[bool] = []

    def _get_actions_per_node(self, assignment: Any) -> str:
        self.requests.append((self._fetch_max_wait_ms, self._fetch_min_bytes))
        return "actions"

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        return self.answers.pop(0)


async def cycle(fetcher: FakeFetcher, brings: bool) -> tuple[int, int]:
    assert fetcher._get_actions_per_node(None) == "actions"
    fetcher.answers.append(brings)
    assert await fetcher._proc_fetch_request(None, 1, None) is brings
    return fetcher.requests[-1]


async def test_records_flowing_are_gathered_and_an_idle_worker_waits_long():
    fetcher = FakeFetcher()
    AdaptiveFetch(fetcher, gather_ms=20)
    # At start: busy (the first records after a start are gathered, not waited for long).
    assert await cycle(fetcher, brings=True) == (20, BUSY_MIN_BYTES)
    assert await cycle(fetcher, brings=False) == (20, BUSY_MIN_BYTES)
    # The last fetch was empty: the next is answered by the first record, or after the
    # idle wait.
    assert await cycle(fetcher, brings=False) == (IDLE_WAIT_MS, 1)
    assert await cycle(fetcher, brings=True) == (IDLE_WAIT_MS, 1)
    # Records came: gather again.
    assert await cycle(fetcher, brings=True) == (20, BUSY_MIN_BYTES)


async def test_records_being_consumed_keep_the_wait_short():
    """Partitions whose records are being consumed are left out of the request: a request
    of idle partitions only must not hold the others for the idle wait."""
    fetcher = FakeFetcher()
    AdaptiveFetch(fetcher, gather_ms=20)
    await cycle(fetcher, brings=False)
    fetcher._records["live.streams-0"] = Buffered(backoff=0.05)  # fresh: being consumed
    assert await cycle(fetcher, brings=False) == (20, BUSY_MIN_BYTES)
    # Records of a partition nobody consumes (past the backoff) do not count.
    fetcher._records["live.streams-0"] = Buffered(backoff=0.0)
    assert await cycle(fetcher, brings=False) == (IDLE_WAIT_MS, 1)


async def test_no_gathering_is_the_earlier_short_wait():
    fetcher = FakeFetcher()
    AdaptiveFetch(fetcher, gather_ms=0)
    assert await cycle(fetcher, brings=True) == (10, 1)
    assert await cycle(fetcher, brings=False) == (10, 1)
    assert await cycle(fetcher, brings=False) == (IDLE_WAIT_MS, 1)
