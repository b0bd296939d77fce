"""The worker's garbage collector: fewer and shorter pauses.

CPython's cyclic collector stops the whole process, both of a worker's event loops, while
it runs. A worker's heap is large and long-lived (the loaded modules, Faust's and aiokafka's
objects, the policy, the caches), and a full (generation 2) collection walks all of it:
40-58 ms on the bench's worker, several in a row in the first seconds after a start
(issue 19: a p99 of 130-200 ms in the first seconds of paced traffic after a start, when
the warm p99 is about 50). Two changes:

- `tune()`, at start: a young generation of YOUNG objects instead of 700. A batch's
  temporaries are freed by reference counting before a collection sees them, instead of
  being promoted, collection by collection, into the old generations, which is what makes
  full collections come often.
- `settle()`, before the worker starts (the modules and the app) and once its partitions
  are restored (after each rebalance): one full collection, then everything alive is
  frozen (`gc.freeze()`): moved to a permanent generation that later collections do not
  walk. Faust's RocksDB store runs a full collection of its own for each table at every
  rebalance (`revoke_partitions`): four tables, four in a row, 22-55 ms each on an unfrozen
  heap (a start's or a join's first rebalance: 100-160 ms with the worker stopped); with the
  start's heap frozen they walk only what came since, and the restore's own collection takes
  1-5 ms instead of 30-40 (session 7, `livegate bench --transitions`, a worker log line per
  pause over 20 ms). Frozen objects are still freed by
  reference counting; only a cycle of them that becomes garbage stays until the process
  ends (the heap after a restore is long-lived state, not such cycles).

`observe()` exports each collection's pause, by generation (`livegate_gc_pause_seconds`).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from pipeline.adapters import metrics

YOUNG = 50_000  # generation 0's threshold (CPython's default: 700)
OLDER = (20, 20)  # generations 1 and 2 (defaults: 10, 10)


def tune() -> None:
    gc.set_threshold(YOUNG, *OLDER)


def settle() -> None:
    gc.collect()
    gc.freeze()


_started = [0.0]


def _time_it(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        metrics.GC_PAUSE.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def observe() -> None:
    if _time_it not in gc.callbacks:
        gc.callbacks.append(_time_it)
