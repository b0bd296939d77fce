"""Every Prometheus metric LiveGate exports, declared once. Labels come from small fixed sets
(topic kinds, outcomes, action types, rule ids, error codes), never creator ids."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Counter, Gauge, Histogram, Info

EVENTS = Counter(
    "livegate_events_decided_total", "Input events decided, by topic kind and outcome",
    ["kind", "outcome"],
)  # fmt: skip
DUPLICATES = Counter(
    "livegate_events_duplicate_total", "Redelivered events already decided (no new effect)",
    ["kind"],
)  # fmt: skip
CONSUMED = Counter(
    "livegate_records_consumed_total", "Input records consumed, by topic kind", ["kind"]
)
ACTIONS = Counter(
    "livegate_actions_total", "Enforcement actions emitted, by action and rule",
    ["action", "rule"],
)  # fmt: skip
DEAD_LETTERS = Counter(
    "livegate_dead_letters_total", "Records sent to the dead-letter topic, by error", ["error"]
)
LATENCY = Histogram(
    "livegate_decision_latency_seconds",
    "Input record produced (Kafka timestamp) to decision produced",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REDIS_LATENCY = Histogram(
    "livegate_redis_lookup_seconds", "Certification lookup round trip (one per batch)",
    buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)  # fmt: skip
GC_PAUSE = Histogram(
    "livegate_gc_pause_seconds", "Garbage collector pauses (the whole worker stops)",
    ["generation"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)  # fmt: skip
REDIS_ROUND_TRIPS = Counter("livegate_redis_round_trips_total", "Redis round trips")
REDIS_ERRORS = Counter(
    "livegate_redis_errors_total", "Certification lookups that failed and were retried",
    ["reason"],
)  # fmt: skip
CACHE = Counter("livegate_cert_cache_total", "Certification cache lookups", ["result"])
CERT_CHANGES = Counter(
    "livegate_cert_changes_applied_total", "Certification changes applied to Redis", ["result"]
)
SHADOW_DISAGREEMENTS = Counter(
    "livegate_shadow_disagreements_total", "Shadow-policy decisions that differ", ["kind"]
)
SHADOW_DECISIONS = Counter("livegate_shadow_decisions_total", "Shadow-policy decisions", ["kind"])
# v3 (CONTRACT §10): rules in `shadow` (by mode, rollout or exemption) that would have acted,
# where the decision made did not act for them; by rule id (a fixed set: the policy's rules).
SHADOW_RULE_DISAGREEMENTS = Counter(
    "livegate_shadow_rule_disagreements_total",
    "Decisions in which a rule in shadow would have acted (its actions were not emitted)",
    ["rule"],
)
CAP_HELD = Counter(
    "livegate_daily_cap_held_total", "Decisions held past a rule's daily_cap", ["rule"]
)
POLICY_INFO = Gauge(
    "livegate_policy_info",
    "1 for the latest policy version this worker has read from enforcement.policies",
    ["version"],
)
POLICY_READ_AGE = Gauge(
    "livegate_policy_read_age_seconds",
    "Seconds since this worker last read enforcement.policies to its end",
)
POLICY_UNREADABLE = Counter(
    "livegate_policy_unreadable_records_total",
    "Records on enforcement.policies this worker could not parse (it decides without them)",
)
POLICY_PAUSED = Gauge(
    "livegate_policy_paused",
    "1 while this worker pauses deciding: it has not read enforcement.policies for too long",
)
BATCH_SIZE = Histogram(
    "livegate_batch_size", "Records per processed batch",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)  # fmt: skip
FENCED = Counter(
    "livegate_fenced_records_total",
    "Records dropped unacked because the worker's assignment changed while they were in "
    "flight (they are decided by the partition's owner)",
    ["stage"],
)
HELD = Counter("livegate_actions_held_total", "Actions held by the circuit breaker")
BREAKER_OPEN = Gauge("livegate_breaker_open", "1 while the enforcement circuit breaker holds")
FOREIGN_DECISION_RECORDS = Counter(
    "livegate_decision_log_foreign_records_total",
    "Records at a decisions partition's tail not sealed by LiveGate (skipped by the chain)",
)
# The review loop (CONTRACT §9). Open items and the oldest one's age come from the queue
# topic as each worker reads it whole (every worker reports the same: use max, not sum).
QUEUE_OPEN = Gauge("livegate_queue_open_items", "Open review and appeal items", ["kind"])
QUEUE_OLDEST_AGE = Gauge(
    "livegate_queue_oldest_open_age_seconds", "Age of the oldest open item (0: none)", ["kind"]
)
QUEUE_TIME_TO_VERDICT = Histogram(
    "livegate_queue_time_to_verdict_seconds", "Item opened (event time) to its verdict",
    ["kind"], buckets=(60, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400),
)  # fmt: skip
REVIEW_SLA = Gauge("livegate_review_sla_seconds", "The policy's review.sla")
OUTBOX_ENTRIES = Counter(
    "livegate_outbox_entries_total",
    "Outbox entries written: one per input partition a batch touched, durable before any of "
    "the batch's records is sent",
)
OUTBOX_RESENT = Counter(
    "livegate_outbox_resent_total",
    "Pending outbox entries of a previous owner applied and re-sent after an assignment",
)
DECIDED_IDS_PURGED = Counter(
    "livegate_decided_ids_purged_total",
    "Decided event ids dropped from the local store, decided longer ago than the dedupe "
    "horizon and a day (the changelog's retention)",
)
OUTBOX_ZOMBIES = Counter(
    "livegate_outbox_zombie_entries_total",
    "Outbox entries ignored: written after a new owner's claim by a worker that no longer "
    "owned the partition",
)
QUEUE_TOMBSTONES = Counter(
    "livegate_queue_tombstones_total",
    "Tombstones written for closed queue items past the appeal window (every worker sweeps)",
)
# The review console (its own process; served on its /metrics).
CONSOLE_QUEUE_UNREADABLE = Counter(
    "livegate_console_queue_unreadable_total",
    "Records of enforcement.queue the console could not read as an item (skipped)",
    ["reason"],  # invalid_json | schema
)


def _version() -> str:
    try:
        return version("livegate")
    except PackageNotFoundError:
        return "unknown"


# livegate_build_info{version="…"} 1: which version each worker runs (a rollout halfway,
# LiveGateVersionsDiffer), and a join key for the dashboards.
BUILD_INFO = Info("livegate_build", "The LiveGate version this process runs")
BUILD_INFO.info({"version": _version()})
