"""The worker's garbage collector settings (pipeline/adapters/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from pipeline.adapters import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    if collector._time_it in gc.callbacks:
        gc.callbacks.remove(collector._time_it)


def _pauses(generation: str) -> float:
    value = REGISTRY.get_sample_value("livegate_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def test_a_young_generation_large_enough_for_a_batch(restored: None) -> None:
    collector.tune()
    assert gc.get_threshold() == (collector.YOUNG, *collector.OLDER)
    assert collector.YOUNG >= 10_000  # a batch's temporaries die young


def test_what_lives_after_a_restore_is_frozen_out_of_full_collections(restored: None) -> None:
    long_lived = [[i] for i in range(1000)]  # container objects the collector tracks
    collector.settle()
    frozen = gc.get_freeze_count()
    assert frozen >= len(long_lived)
    assert all(gc.is_tracked(x) for x in long_lived)  # still freed by reference counting


def test_every_collection_is_timed_by_generation(restored: None) -> None:
    collector.observe()
    collector.observe()  # once only
    assert gc.callbacks.count(collector._time_it) == 1
    before = _pauses("2"), _pauses("0")
    gc.collect()
    gc.collect(0)
    assert _pauses("2") == before[0] + 1
    assert _pauses("0") == before[1] + 1
