"""Activations (CONTRACT §10): which policy version decides an event, by its version clock.

An activation record on `enforcement.policies` says "from event time `effective_from` on,
decide by this text". `PolicyBook` holds every loaded activation in one sorted list, so the
lookup per event is a bisect on a list of integers: no I/O, nothing per batch.
"""

from __future__ import annotations

import bisect
from typing import Any, Final

import msgspec

from pipeline.domain.errors import LiveGateError
from pipeline.domain.policy import Policy, policy_version

ACTIVATION_FIELDS: Final = (
    "activation_id", "policy_version", "effective_from", "text", "activated_by", "activated_at",
)  # fmt: skip
LEAD_MS: Final = 60_000  # the activation lead: --at defaults to now + this


class Activation(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    activation_id: str
    policy_version: str
    effective_from: int
    text: str
    activated_by: str
    activated_at: int


def activation_id(effective_from: int, version: str) -> str:
    return f"{effective_from:013d}:{version}"


def new_activation(text: str, effective_from: int, activated_by: str, now_ms: int) -> Activation:
    version = policy_version(text)
    return Activation(
        activation_id=activation_id(effective_from, version), policy_version=version,
        effective_from=effective_from, text=text, activated_by=activated_by,
        activated_at=now_ms,
    )  # fmt: skip


_DECODER: Final = msgspec.json.Decoder(dict[str, Any])


class NotAnActivation(LiveGateError):
    """A record of the topic that is history (a v2 bare policy text), not an activation."""


def parse_activation(value: bytes) -> Activation:
    """An activation record; NotAnActivation for a v2 bare text, LiveGateError for a record
    that claims to be one and is not valid (another producer's)."""
    try:
        data = _DECODER.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise NotAnActivation("not JSON: a bare policy text (v2 history)") from None
    if "activation_id" not in data and "effective_from" not in data:
        raise NotAnActivation("not an activation record")
    try:
        a = msgspec.convert(data, Activation)
    except msgspec.ValidationError as exc:
        raise LiveGateError(f"bad activation record: {exc}") from None
    if a.effective_from < 0:
        raise LiveGateError(f"bad activation record: effective_from {a.effective_from} < 0")
    if policy_version(a.text) != a.policy_version:
        raise LiveGateError(
            f"activation {a.activation_id}: its text hashes to {policy_version(a.text)}, "
            f"not {a.policy_version}"
        )
    if activation_id(a.effective_from, a.policy_version) != a.activation_id:
        raise LiveGateError(f"activation {a.activation_id}: id does not match its fields")
    return a


def encode_activation(a: Activation) -> bytes:
    return msgspec.json.encode(a)


def order_key(a: Activation) -> tuple[int, int, str]:
    """Ascending: of two activations with one effective_from, the later activated_at wins,
    then the greater version (CONTRACT §10)."""
    return (a.effective_from, a.activated_at, a.policy_version)


def version_clock(ts: int, record_ts: int | None) -> int:
    """The earlier of the event's `ts` and its input record's Kafka timestamp (if known)."""
    if record_ts is None or record_ts < 0:
        return ts
    return min(ts, record_ts)


class PolicyBook:
    """Every loaded activation, with its loaded policy, in order; immutable once built."""

    __slots__ = ("activations", "capped", "froms", "latest", "latest_activation", "policies")

    def __init__(self, entries: list[tuple[Activation, Policy]]) -> None:
        if not entries:
            raise LiveGateError("a policy book needs at least one activation")
        entries = sorted(entries, key=lambda e: order_key(e[0]))
        self.activations = [a for a, _ in entries]
        self.policies = [p for _, p in entries]
        self.froms = [a.effective_from for a in self.activations]
        self.latest_activation = self.activations[-1]
        self.latest = self.policies[-1]
        # Whether any version has a rule with a daily cap (else no batch counts anything).
        self.capped = any(
            r.life.daily_cap is not None for p in self.policies for r in p.rules.values()
        )

    @classmethod
    def single(cls, policy: Policy) -> PolicyBook:
        """One policy for all time (tests, the tools that run one file)."""
        return cls([(new_activation(policy.text, 0, "", 0), policy)])

    def index_at(self, clock: int) -> int | None:
        i = bisect.bisect_right(self.froms, clock) - 1
        return i if i >= 0 else None

    def at(self, clock: int) -> Policy:
        """The policy in force at `clock`; before the first activation, the first one (the
        worker's first activation is effective from 0, so only an odd topic gets here)."""
        if len(self.policies) == 1:
            return self.latest
        i = self.index_at(clock)
        return self.policies[0 if i is None else i]

    def activation_at(self, clock: int) -> Activation:
        i = self.index_at(clock)
        return self.activations[0 if i is None else i]

    def has(self, version: str) -> bool:
        return any(p.version == version for p in self.policies)

    def any(self, test: Any) -> bool:
        return any(test(p) for p in self.policies)
