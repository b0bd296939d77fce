"""Every private name of Faust, mode, aiokafka and rocksdict that LiveGate relies on.

An upgrade that renames or removes one would otherwise fail quietly (a consumer that never
commits, a store read that returns nothing). `check()` fails loudly instead, naming each
missing one: the canary test runs it (tests/unit/test_faust_canary.py) and so does the
worker before it starts (pipeline/adapters/faust/worker.py).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Final

from pipeline.domain.errors import LiveGateError

# (module:object, attribute, where LiveGate uses it)
PRIVATE: Final = (
    ("faust.transport.consumer:Consumer", "_acked", "fetching: acks of decided records"),
    ("faust.transport.consumer:Consumer", "_acked_index", "fetching"),
    ("faust.transport.consumer:Consumer", "_committed_offset", "fetching"),
    ("faust.transport.consumer:Consumer", "_read_offset", "fetching"),
    ("faust.transport.consumer:Consumer", "_n_acked", "fetching"),
    ("faust.transport.consumer:Consumer", "_commit_every", "fetching"),
    ("faust.transport.consumer:Consumer", "_buffered_partitions", "fetching"),
    ("faust.transport.consumer:Consumer", "_waiting_for_ack", "fetching"),
    ("faust.transport.consumer:Consumer", "_paused_partitions", "fetching: held in aiokafka"),
    ("faust.transport.consumer:Consumer", "_add_gap", "fetching"),
    ("faust.transport.consumer:Consumer", "_wait_next_records", "fetching: the drain loop"),
    ("faust.transport.consumer:Consumer", "_to_message", "fetching"),
    ("faust.transport.consumer:Consumer", "_drain_messages", "fetching: overridden"),
    ("faust.transport.consumer:Consumer", "perform_seek", "fetching"),
    ("faust.transport.consumer:Consumer", "suspend_flow", "fetching: backpressure"),
    ("faust.transport.consumer:Consumer", "flow_active", "fetching"),
    ("faust.transport.consumer:Fetcher", "_stopped", "fetching: the drain loop"),
    ("faust.transport.consumer:CONSUMER_FETCHING", "", "fetching"),
    ("faust.types.tuples:ack_lock", "", "fetching"),
    ("mode.utils.futures:notify", "", "fetching"),
    ("faust.transport.drivers.aiokafka:Consumer", "_new_consumer_thread", "fetching"),
    (
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
        "_create_worker_consumer",
        "fetching: the adaptive fetch",
    ),
    ("aiokafka.consumer.consumer:AIOKafkaConsumer", "_fetcher", "fetching: adaptive fetch"),
    ("aiokafka.consumer.fetcher:Fetcher", "_fetch_max_wait_ms", "fetching: adaptive fetch"),
    ("aiokafka.consumer.fetcher:Fetcher", "_fetch_min_bytes", "fetching: adaptive fetch"),
    ("aiokafka.consumer.fetcher:Fetcher", "_records", "fetching: adaptive fetch"),
    ("aiokafka.consumer.fetcher:Fetcher", "_get_actions_per_node", "fetching: wrapped"),
    ("aiokafka.consumer.fetcher:Fetcher", "_proc_fetch_request", "fetching: wrapped"),
    ("aiokafka.consumer.fetcher:FetchResult", "calculate_backoff", "fetching: adaptive"),
    ("aiokafka.consumer.subscription_state:Assignment", "state_value", "fetching: held"),
    ("aiokafka.consumer.subscription_state:TopicPartitionState", "pause", "fetching: held"),
    ("aiokafka.consumer.subscription_state:TopicPartitionState", "resume", "fetching: held"),
    ("aiokafka.consumer.subscription_state:TopicPartitionState", "paused", "fetching: held"),
    ("faust.transport.drivers.aiokafka:Producer", "_ensure_producer", "tables: the producer"),
    ("faust.stores.rocksdb:Store", "_dbs", "tables: a partition's database"),
    ("faust.stores.rocksdb:Store", "offset_key", "tables: the persisted changelog offset"),
    ("faust.stores.rocksdb:Store", "partition_path", "localtables: `<table>-<p>.db`"),
    ("rocksdict:WriteBatch", "put", "tables"),
    ("faust.app.base:App", "on_rebalance_start", "group: wrapped, a rebalance starts"),
    ("faust.app.base:App", "consumer_generation_id", "group"),
    ("faust.tables.recovery:Recovery", "signal_recovery_start", "group: a stale completion"),
    ("faust.sensors.prometheus:PrometheusMonitor", "_metrics", "sensor"),
    ("faust.sensors.prometheus:PrometheusMonitor", "_clear_partition_related_metrics", "sensor"),
)


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _has(owner: Any, attribute: str) -> bool:
    if hasattr(owner, attribute):
        return True
    if not inspect.isclass(owner):
        return False
    # An attribute set in a constructor: look for its assignment in the class's sources.
    for cls in owner.__mro__:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        if f"self.{attribute} =" in source or f"self.{attribute}:" in source:
            return True
    return False


def missing() -> list[str]:
    """The private names that are not there, each with where LiveGate uses it."""
    out = []
    for path, attribute, used in PRIVATE:
        try:
            owner = _resolve(path)
        except (ImportError, AttributeError):
            out.append(f"{path} ({used})")
            continue
        if attribute and not _has(owner, attribute):
            out.append(f"{path}.{attribute} ({used})")
    return out


def check() -> None:
    gone = missing()
    if gone:
        raise LiveGateError(
            "this Faust/mode/aiokafka/rocksdict lacks names LiveGate relies on (an upgrade "
            "beyond the tested versions?): " + "; ".join(gone)
        )
