"""The consumer group's lag as `livegate topics lag` reports it (pipeline/adapters/kafka.py)."""

from __future__ import annotations

from pipeline.adapters import kafka


def test_a_partitions_lag_counts_from_its_committed_offset_or_its_first_record():
    lag = kafka.PartitionLag
    assert lag("t", 0, committed=2, begin=0, end=5).lag == 3
    assert lag("t", 0, committed=None, begin=3, end=5).lag == 2  # never committed: from the start
    assert lag("t", 0, committed=1, begin=4, end=5).lag == 1  # committed before retention cut
    assert lag("t", 0, committed=7, begin=0, end=5).lag == 0
