"""The worker's threads by name (pipeline/adapters/threadnames.py) and the bench's CPU by
thread (pipeline/bench/procs.py), read from this test's own process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from pipeline.adapters.threadnames import CONSUMER, DELIVERIES, name_this_thread
from pipeline.bench.procs import THREAD_GROUPS, thread_cpu_seconds, thread_group


def test_groups_by_thread():
    pid = 4242
    assert thread_group(pid, pid, "python") == "event loop"
    assert thread_group(pid, 4243, CONSUMER) == "consumer"
    assert thread_group(pid, 4244, DELIVERIES) == "librdkafka"
    assert thread_group(pid, 4245, "rdk:broker1") == "librdkafka"
    assert thread_group(pid, 4246, "rocksdb:low") == "other"
    assert thread_group(pid, 4247, "python") == "other"  # an unnamed Python thread


def test_a_named_thread_counts_in_its_group():
    started, stop = threading.Event(), threading.Event()
    seen: list[str] = []

    def spin() -> None:
        name_this_thread(CONSUMER)
        comm = Path(f"/proc/self/task/{threading.get_native_id()}/comm")
        seen.append(comm.read_text().strip())
        started.set()
        while not stop.is_set():  # busy until read: CPU of its own to count
            pass

    before = thread_cpu_seconds(os.getpid())
    t = threading.Thread(target=spin)
    t.start()
    try:
        assert started.wait(5)
        time.sleep(0.3)
        during = thread_cpu_seconds(os.getpid())  # read while the thread lives
    finally:
        stop.set()
        t.join(10)
    assert seen == [CONSUMER]
    assert set(during) == set(THREAD_GROUPS)
    assert before["consumer"] == 0.0 and during["consumer"] > 0.0  # found under its name
    assert thread_cpu_seconds(-1) == dict.fromkeys(THREAD_GROUPS, 0.0)  # no such process
