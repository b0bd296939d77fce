"""The adaptive fetch (pipeline/adapters/faust/fetching.py): each fetch request's wait and
minimum size chosen from what the previous one brought, driven with a fake aiokafka
fetcher (the requests' parameters are what the broker sees)."""

from __future__ import annotations

from typing import Any

from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.structs import TopicPartition
from faust.types import TP

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


def _assignment(*tps: TopicPartition) -> Any:
    """aiokafka's own subscription state (no broker involved), as the fetcher holds it."""
    subscription = SubscriptionState()
    subscription.assign_from_user(set(tps))
    return subscription.subscription.assignment


async def test_the_partitions_the_app_paused_are_not_fetched_until_it_resumes_them():
    """Faust pauses a table's changelog partitions once recovered, but only in its own
    bookkeeping; aiokafka went on fetching them, and a changelog record fetched and never
    consumed held every fetch to its broker for the prefetch backoff (100 ms each time, in
    the first second after a start). They are paused in aiokafka too, and resumed with
    Faust; what aiokafka (or anyone else) paused itself is left alone."""
    stream = TopicPartition("live.streams", 0)
    changelog = TopicPartition("lg-creator-state-changelog", 0)
    other = TopicPartition("lg-outbox-changelog", 0)
    assignment = _assignment(stream, changelog, other)
    assignment.state_value(other).pause()  # paused by someone else
    faust_paused: set[Any] = {TP("lg-creator-state-changelog", 0)}  # Faust's own TP type
    fetcher = FakeFetcher()
    fetch = AdaptiveFetch(fetcher, gather_ms=20, held=lambda: faust_paused)

    def paused() -> set[TopicPartition]:
        return {tp for tp in assignment.tps if assignment.state_value(tp).paused}

    fetch.actions(assignment)
    assert paused() == {changelog, other}
    faust_paused.clear()  # a recovery: Faust resumes the changelog
    fetch.actions(assignment)
    assert paused() == {other}  # resumed; the other stays paused
    faust_paused.add(TP("lg-outbox-changelog", 0))
    fetch.actions(assignment)
    faust_paused.clear()
    fetch.actions(assignment)
    assert paused() == {other}  # not ours to resume
    # A new assignment (a rebalance) starts from fresh partition states.
    faust_paused.add(TP("live.streams", 0))
    renewed = _assignment(stream, changelog)
    fetch.actions(renewed)
    assert {tp for tp in renewed.tps if renewed.state_value(tp).paused} == {stream}
    assert fetcher.requests == [(20, BUSY_MIN_BYTES)] * 5  # aiokafka's own step, each time
