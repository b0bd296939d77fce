"""What /readyz answers: is this worker able to decide now, and if not, why."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import faust

from agents.runtime import Runtime
from pipeline.adapters.faust.tables import aiokafka_producer

CHECK_TIMEOUT_S = 2.0  # each outside check; docker-compose's health check allows 5 s


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def readiness(app: faust.App, rt: Runtime) -> list[Check]:
    """Every readiness check, in the order an operator fixes them."""
    kafka, redis = await asyncio.gather(_kafka(app, rt), _redis(rt))
    checks = [kafka, redis]
    if redis.ok:
        checks.append(await _loaded(rt))
    else:
        checks.append(Check("certifications_loaded", False, "unknown: Redis is unreachable"))
    checks += [_assigned(app, rt), _recovered(app), *_policies(rt)]
    return checks


def _policies(rt: Runtime) -> list[Check]:
    """CONTRACT §10: not ready before the policies topic is read, nor when it was not read
    for longer than the activation lead; a record on it that cannot be used is a reason too
    (the worker decides by the versions it has)."""
    if rt.activations is None:
        return []
    ok, detail = rt.activations.check()
    checks = [Check("policies", ok, detail)]
    bad = rt.activations.bad
    if bad:
        key, why = sorted(bad.items())[0]
        checks.append(Check("policy_records", False, f"{len(bad)} record(s) of "
                            f"{rt.settings.topics.policies} cannot be used (e.g. {key}: {why}); "
                            "deciding by the versions read"))  # fmt: skip
    return checks


def _assigned(app: faust.App, rt: Runtime) -> Check:
    assignment = app.consumer.assignment()
    # Partitions of the input topics: those it decides. A worker holding only standby
    # copies of changelog partitions (LIVEGATE_STANDBY_REPLICAS) decides nothing: a spare.
    if any(tp.topic in rt.kinds for tp in assignment):
        return Check("assigned", True, f"{len(assignment)} partitions assigned")
    # A spare (more workers than partitions) is ready: it is healthy and takes over when
    # another leaves, so a rollout or a PodDisruptionBudget must not wait for it.
    if not app.rebalancing and app.tables.recovery.completed.is_set():
        return Check("assigned", True, "spare: every partition is assigned to another worker")
    return Check("assigned", False, "no partition assigned to this worker (yet)")


def _recovered(app: faust.App) -> Check:
    if app.rebalancing:
        return Check("recovered", False, "rebalancing")
    if app.in_recovery or not app.tables.recovery.completed.is_set():
        return Check("recovered", False, "recovering the tables from their changelogs")
    return Check("recovered", True, "tables recovered")


async def _redis(rt: Runtime) -> Check:
    try:
        await asyncio.wait_for(rt.store.client.ping(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure is the answer, not an error of the check
        return Check("redis", False, f"Redis unreachable at {rt.settings.redis_url_redacted}: "
                     f"{_why(exc)}")  # fmt: skip
    return Check("redis", True, "reachable")


async def _loaded(rt: Runtime) -> Check:
    key = rt.settings.loaded_key
    try:
        loaded = await asyncio.wait_for(rt.store.client.exists(key), CHECK_TIMEOUT_S)
    except Exception as exc:
        return Check("certifications_loaded", False, f"cannot read `{key}`: {_why(exc)}")
    if loaded:
        return Check("certifications_loaded", True, f"`{key}` is set")
    return Check(
        "certifications_loaded", False,
        f"the certification table is not loaded (`{key}` missing): run `livegate certs rebuild` "
        "or `livegate certs import`; nothing is decided until then",
    )  # fmt: skip


async def _kafka(app: faust.App, rt: Runtime) -> Check:
    bootstrap = rt.settings.kafka_bootstrap
    try:
        client = aiokafka_producer(app).client
        nodes = [b.nodeId for b in client.cluster.brokers()]
        if not nodes:
            return Check("kafka", False, f"Kafka at {bootstrap}: no broker known yet")
        for node in nodes:
            if await asyncio.wait_for(client.ready(node), CHECK_TIMEOUT_S):
                return Check("kafka", True, "reachable")
    except Exception as exc:
        return Check("kafka", False, f"Kafka unreachable at {bootstrap}: {_why(exc)}")
    return Check("kafka", False, f"Kafka unreachable at {bootstrap}: no broker answers")


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    return str(exc) or type(exc).__name__
