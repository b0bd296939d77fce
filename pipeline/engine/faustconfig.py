"""The Faust settings the worker runs with: a pure function of the settings, so the bench's
engine floor runs with exactly the worker's options (no Faust import needed to read them)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.admin import NewTopic

from pipeline.adapters import kafka
from pipeline.adapters.faust.credentials import faust_credentials
from pipeline.adapters.settings import Settings

# DESIGN: about 10 s instead of Faust's 60 s, so a dead worker's partitions move quickly.
SESSION_TIMEOUT_S = 10.0
# The worker's Faust tables; each has a changelog `<app id>-<table>-changelog`: compacted,
# and the decided ids' also deleted past the deduplication horizon (engine/deciding.py).
STATE_TABLE, SCHEDULE_TABLE, IDS_TABLE = "creator-state", "expiry-schedule", "decided-ids"
OUTBOX_TABLE = "outbox"
# The outbox's changelog holds a ring of 64 keys per partition, rewritten with every batch:
# compacted within a minute, so a restore (a failover, a new worker) reads about a minute of
# entries, not every entry ever written (engine/outbox.py).
OUTBOX_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.ms": "60000",
    "max.compaction.lag.ms": "60000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "60000",
}


def faust_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `faust.App(settings.app_id, **faust_options(settings))`."""
    bootstrap = ";".join(settings.kafka_bootstrap.split(","))
    return {
        "broker": f"kafka://{bootstrap}",
        "broker_credentials": faust_credentials(settings),  # None: PLAINTEXT
        # The store of the creator-state table (LIVEGATE_STORE); RocksDB's files, with the
        # changelog offsets they hold, live under one directory per app id and web port.
        "store": settings.store,
        "datadir": str(settings.data_dir / f"{settings.app_id}-{settings.web_port}"),
        "autodiscover": False,
        "topic_partitions": settings.partitions,
        # Faust's own topics (changelogs, the assignor's leader topic) replicated as ours;
        # the changelogs' min.insync.replicas comes with their table (changelog_configs).
        "topic_replication_factor": settings.replication_factor,
        "consumer_group_instance_id": settings.group_instance_id,
        "broker_session_timeout": SESSION_TIMEOUT_S,
        "broker_heartbeat_interval": 2,
        "broker_commit_interval": 1.0,
        "broker_max_poll_records": 1000,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_linger": 0.002,
        "producer_max_batch_size": 256 * 1024,
        "stream_recovery_delay": 0.0,
        "stream_buffer_maxsize": 8192,
        "stream_ack_exceptions": False,
        # A revocation must not wait for in-flight batches: one waiting for Redis would
        # hold the rebalance until this worker is evicted, and then decide for partitions
        # it lost. The processor fences such batches by generation instead (processor.py).
        "stream_wait_empty": False,
        "table_standby_replicas": settings.standby_replicas,
        "web_port": settings.web_port,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        # What other workers forward a creator's request to (table_route): never 0.0.0.0.
        "canonical_url": settings.web_url,
    }


def changelog_configs(settings: Settings) -> dict[str, str]:
    """Topic configs of the tables' changelogs beyond Faust's (`extra_topic_configs`)."""
    return kafka.replication_configs(settings)


def changelog_name(settings: Settings, table: str) -> str:
    """The name Faust gives a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


# Each of the worker's tables, with its changelog's cleanup policy.
TABLE_CLEANUP = ((STATE_TABLE, "compact"), (SCHEDULE_TABLE, "compact"),
                 (IDS_TABLE, "compact,delete"), (OUTBOX_TABLE, "compact"))  # fmt: skip


def changelog_names(settings: Settings) -> dict[str, str]:
    """Each of the worker's tables, to its changelog topic."""
    return {table: changelog_name(settings, table) for table, _ in TABLE_CLEANUP}


def changelog_topics(settings: Settings) -> list[NewTopic]:
    """The tables' changelogs as Faust creates them (for comparing existing ones)."""
    return [
        kafka.new_topic(settings, changelog_name(settings, table), settings.partitions,
                        {"cleanup.policy": cleanup})
        for table, cleanup in TABLE_CLEANUP
    ]  # fmt: skip


def use_event_loop(settings: Settings) -> None:
    """Install the event loop policy LIVEGATE_EVENT_LOOP names, before any loop is made
    (Faust's consumer thread makes its own loop with the same policy)."""
    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
