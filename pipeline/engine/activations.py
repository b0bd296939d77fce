"""The worker's side of activation (CONTRACT §10): it reads `enforcement.policies` before its
first decision and again every few seconds while it runs, holds every activated version in a
PolicyBook, and hands the processor a new book when a version arrives: no restart.

- On a topic without any activation record, the worker publishes its policy file
  (LIVEGATE_POLICY) as the first activation, effective from 0; afterwards the file changes
  nothing (a warning says when it differs from the latest activation).
- A record it cannot parse or load (another producer's) is left out: the worker keeps
  deciding by the versions it has, and says so (log, metric, readiness). A version is used
  only once loaded whole.
- A worker that has not read the topic for longer than the activation lead (one minute)
  pauses deciding rather than guessing which version is in force.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from pipeline.adapters import kafka, metrics
from pipeline.adapters.kafka import TopicTail
from pipeline.adapters.retry import retry
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.activation import (
    LEAD_MS,
    Activation,
    NotAnActivation,
    PolicyBook,
    encode_activation,
    new_activation,
    order_key,
    parse_activation,
)
from pipeline.domain.errors import LiveGateError
from pipeline.domain.policy import Policy, load_policy

log = logging.getLogger("livegate.activations")
REREAD_S: Final = 5.0  # the contract's bound is 10 s
STALE_S: Final = LEAD_MS / 1000  # not read for longer: pause deciding


async def publish(settings: Settings, activation: Activation) -> None:
    """One activation record, keyed by its id; returns when the broker has it (acks=all)."""
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.policies, encode_activation(activation),
            key=activation.activation_id.encode(),
        )  # fmt: skip
    finally:
        await producer.stop()


class Activations:
    def __init__(
        self, settings: Settings, file_policy: Policy, on_book: Callable[[PolicyBook], None],
        clock: Callable[[], int] = now_ms, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.file_policy = file_policy
        self.on_book = on_book
        self.clock = clock
        self.monotonic = monotonic
        self.tail = TopicTail(settings, settings.topics.policies)
        self.known: dict[str, tuple[Activation, Policy]] = {}  # by activation_id
        self.bad: dict[str, str] = {}  # record key -> why it was left out
        self.book: PolicyBook | None = None
        self.last_read: float | None = None
        self.loaded = asyncio.Event()
        self._paused_warned = 0.0

    # ---- reading ---------------------------------------------------------------------------
    async def read_once(self) -> bool:
        """Read what the topic gained; True when the set of activations changed."""
        rows = await self.tail.read_new()
        changed = False
        for r in rows:
            key = r.key.decode("utf-8", "replace") if r.key is not None else ""
            if r.value is None:  # a tombstone: compaction removes the activation
                changed |= self.known.pop(key, None) is not None
                self.bad.pop(key, None)
                continue
            try:
                a = parse_activation(r.value)
                policy = load_policy(a.text, source=f"activation {a.activation_id}")
            except NotAnActivation:
                continue  # v2 history or a shadow candidate's text: decides nothing
            except LiveGateError as exc:
                if key not in self.bad:
                    metrics.POLICY_UNREADABLE.inc()
                    log.error(
                        "record %r on %s (offset %d) is not a policy this worker can use: "
                        "%s; deciding by the versions it has", key, r.topic, r.offset, exc,
                    )  # fmt: skip
                self.bad[key] = str(exc)[:300]
                continue
            self.bad.pop(key, None)
            if a.activation_id not in self.known or self.known[a.activation_id][0] != a:
                self.known[a.activation_id] = (a, policy)
                changed = True
        self.last_read = self.monotonic()
        metrics.POLICY_READ_AGE.set(0)
        return changed

    def _rebuild(self) -> None:
        book = PolicyBook(list(self.known.values()))
        previous = self.book
        self.book = book
        self.on_book(book)
        latest = book.latest_activation
        if previous is None or previous.latest_activation != latest:
            metrics.POLICY_INFO.clear()
            metrics.POLICY_INFO.labels(latest.policy_version).set(1)
            log.info(
                "policy versions: %d activations, latest %s effective from %d",
                len(book.activations), latest.policy_version, latest.effective_from,
            )  # fmt: skip

    async def start(self) -> None:
        """Read the topic before the first decision; publish the file as the first
        activation if the topic has none. Retries until it succeeds."""

        async def first() -> None:
            await self.read_once()
            if not self.known:
                a = new_activation(self.file_policy.text, 0, _who(), self.clock())
                log.warning(
                    "%s holds no activation: publishing the policy file (%s) as the first, "
                    "effective from 0", self.settings.topics.policies, a.policy_version,
                )  # fmt: skip
                await publish(self.settings, a)
                await self.read_once()
                if not self.known:
                    raise LiveGateError("the first activation is not readable yet")

        def report(exc: BaseException) -> None:
            log.error("reading %s failed (%r); retrying", self.settings.topics.policies, exc)

        await retry(first, on=(Exception,), report=report, first_delay=0.2, max_delay=5.0)
        self._rebuild()
        assert self.book is not None
        if self.book.latest.version != self.file_policy.version:
            log.warning(
                "the policy file %s (version %s) differs from the latest activation (%s): "
                "the file changes nothing; activate it with `livegate policy activate`",
                self.settings.policy_path, self.file_policy.version, self.book.latest.version,
            )  # fmt: skip
        self.loaded.set()

    async def follow(self) -> None:
        """Read again every few seconds, for as long as the worker runs."""
        while True:
            await asyncio.sleep(REREAD_S)
            try:
                if await self.read_once():
                    self._rebuild()
            except Exception as exc:  # the age check pauses deciding if this persists
                log.warning("reading %s failed (%r)", self.settings.topics.policies, exc)
            metrics.POLICY_READ_AGE.set(self.age())

    async def run(self) -> None:
        await self.start()
        await self.follow()

    # ---- what the processor and readiness ask ------------------------------------------------
    def age(self) -> float:
        return float("inf") if self.last_read is None else self.monotonic() - self.last_read

    async def gate(self) -> None:
        """Wait until the versions are read and recent enough to decide by."""
        await self.loaded.wait()
        while self.age() > STALE_S:
            metrics.POLICY_PAUSED.set(1)
            now = self.monotonic()
            if now - self._paused_warned >= 5:
                self._paused_warned = now
                log.error(
                    "not deciding: %s not read for %.0f s (more than the %d s activation "
                    "lead); a version may be in force that this worker has not seen",
                    self.settings.topics.policies, self.age(), LEAD_MS // 1000,
                )  # fmt: skip
            await asyncio.sleep(0.5)
        metrics.POLICY_PAUSED.set(0)

    def check(self) -> tuple[bool, str]:
        """(ready, why) for /readyz."""
        topic = self.settings.topics.policies
        if not self.loaded.is_set() or self.book is None:
            return False, f"{topic} not read yet: nothing is decided before"
        if self.age() > STALE_S:
            return False, (f"{topic} not read for {self.age():.0f} s (> {LEAD_MS // 1000} s): "
                           "deciding is paused")  # fmt: skip
        latest = self.book.latest_activation
        return True, f"policy {latest.policy_version} (of {len(self.book.activations)} activations)"


def _who() -> str:
    return f"worker@{socket.gethostname()}"


def attach(app: Any, activations: Activations) -> None:
    """The follower as a Faust app task."""
    app.task(activations.run)


async def read_activations(settings: Settings) -> tuple[list[Activation], dict[str, str]]:
    """Every activation on the topic, in order (the tools' view), and the records that are
    not usable (key -> why); v2 bare texts are neither."""
    partitions = await kafka.read_topic(settings, settings.topics.policies, required=False)
    found: dict[str, Activation] = {}
    bad: dict[str, str] = {}
    for rows in partitions.values():
        for r in rows:
            key = r.key.decode("utf-8", "replace") if r.key is not None else ""
            if r.value is None:
                found.pop(key, None)
                continue
            try:
                a = parse_activation(r.value)
                load_policy(a.text, source=f"activation {a.activation_id}")
            except NotAnActivation:
                continue
            except LiveGateError as exc:
                bad[key] = str(exc)
                continue
            found[a.activation_id] = a
            bad.pop(key, None)
    return sorted(found.values(), key=order_key), bad
