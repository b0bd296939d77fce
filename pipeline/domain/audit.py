"""The decision log's shapes (CONTRACT §5): the decision record, its id, the canonical JSON
and the SHA-256 hash chain. One implementation, used by the processor, shadow mode and
the replays."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

import msgspec

from pipeline.domain import signing
from pipeline.domain.events import Event, event_to_builtins, event_type

if TYPE_CHECKING:  # decide imports the view, which imports decision_id from here
    from pipeline.domain.decide import Decision

GENESIS: Final = "0" * 64
_ENCODER: Final = msgspec.json.Encoder(order="sorted")


class Source(msgspec.Struct, frozen=True, gc=False):
    """Where the decided record was: LiveGate's addition to CONTRACT §5."""

    topic: str
    partition: int
    offset: int


class ActiveDecision(msgspec.Struct, frozen=True, gc=False):
    """What the active policy decided, on a shadow record."""

    policy_version: str
    outcome: str
    action_ids: list[str]
    rule_ids: list[str]


class DecisionRecord(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One decided event, as written to `enforcement.decisions` (and, with the shadow
    fields, to `enforcement.shadow`). Fields left UNSET are not written."""

    decision_id: str
    event: dict[str, Any]
    event_id: str
    event_type: str
    creator_id: str
    outcome: str
    action_ids: list[str]
    rule_ids: list[str]
    certifications: Any
    state_before: Any
    policy_version: str
    event_ts: int
    decided_at: int
    source: Source
    # Held by the circuit breaker (true) or a rule's daily cap (v3, "daily_cap", with the
    # count it saw): no action went out, no state changed.
    held: bool | str | msgspec.UnsetType = msgspec.UNSET
    held_actions: list[Any] | msgspec.UnsetType = msgspec.UNSET
    cap_count: int | msgspec.UnsetType | None = msgspec.UNSET
    # v3 (CONTRACT §10): rules in shadow for this event: [{rule_id, actions}]; and on
    # `enforcement.shadow`, `mode: "shadow"` for a record of them.
    shadow: list[Any] | msgspec.UnsetType = msgspec.UNSET
    mode: str | msgspec.UnsetType = msgspec.UNSET
    # Shadow mode only: the candidate's actions, the active decision, and whether they agree.
    actions: list[Any] | msgspec.UnsetType = msgspec.UNSET
    active: ActiveDecision | msgspec.UnsetType = msgspec.UNSET
    agrees: bool | msgspec.UnsetType = msgspec.UNSET
    # v3: the input record's Kafka timestamp (the appeal window runs to it, CONTRACT §12).
    record_ts: int | msgspec.UnsetType = msgspec.UNSET
    # v3: a signed event (CONTRACT §12) as received, signature and all, so a replay can
    # check the signature again (the decoded `event` drops what the schema does not know).
    signed: str | msgspec.UnsetType = msgspec.UNSET
    # v3 (CONTRACT §11): the creator's platform, and a pre-v3 state's migration to it.
    platform: str | msgspec.UnsetType = msgspec.UNSET
    platform_migration: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    prev_hash: str | msgspec.UnsetType = msgspec.UNSET  # set by seal()


def decision_record(
    event: Event, decision: Decision, policy_version: str, decided_at: int, source: Source,
    **extra: Any,
) -> DecisionRecord:  # fmt: skip
    """The record of one decision: the processor's (with `held` and `held_actions` when the
    breaker held it) and shadow mode's (with `actions`, `active`, `agrees`)."""
    return DecisionRecord(
        decision_id=decision_id(event.creator_id, event.event_id),
        event=event_to_builtins(event),
        event_id=event.event_id,
        event_type=event_type(event),
        creator_id=event.creator_id,
        outcome=decision.outcome,
        action_ids=[a.action_id for a in decision.actions],
        rule_ids=list(decision.rule_ids),
        certifications=decision.certifications,
        state_before=decision.state_before,
        policy_version=policy_version,
        event_ts=event.ts,
        decided_at=decided_at,
        source=source,
        **extra,
    )


def decision_id(creator_id: str, event_id: str) -> str:
    return hashlib.sha256(f"decision\x1f{creator_id}\x1f{event_id}".encode()).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Sorted keys at every level, no spaces, UTF-8 (non-ASCII not escaped).

    msgspec's encoder is the definition: replays must use this function, not json.dumps,
    whose float spelling differs (1e+16 vs 1e16).
    """
    return _ENCODER.encode(obj)


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The hash of a record read back (a dict, with or without its `hash` and `seal`)."""
    body = {k: v for k, v in record.items() if k not in ("hash", "seal")}
    return _digest(prev_hash, canonical_json(body))


def verify_hash(record: dict[str, Any]) -> bool:
    return chain_hash(str(record.get("prev_hash", "")), record) == record.get("hash")


def record_status(record: Any, keys: signing.Keys) -> tuple[str | None, str]:
    """(hash, SEALED | UNSEALED | FOREIGN) of a record read back (CONTRACT §12): UNSEALED is
    a record whose hash verifies and that has no seal (pre-v3); FOREIGN anything else that
    is not SEALED, with no hash to continue from."""
    if not isinstance(record, dict):
        return None, signing.FOREIGN
    digest, prev = record.get("hash"), record.get("prev_hash")
    if not isinstance(digest, str) or not isinstance(prev, str) or not verify_hash(record):
        return None, signing.FOREIGN
    status = signing.seal_status(record, keys)
    return (None if status == signing.FOREIGN else digest), status


def seal(
    record: DecisionRecord | dict[str, Any], prev_hash: str, key: tuple[str, str] | None = None
) -> tuple[bytes, str]:
    """The record's bytes with `prev_hash`, `hash` and (with `key` = (key_id, secret)) `seal`,
    and the hash.

    hash = SHA-256(prev_hash + canonical JSON of the record with prev_hash, without hash and
    seal); the emitted bytes are that canonical form with `hash` appended, then `seal`, the
    HMAC of the hash (CONTRACT §12: what makes the record LiveGate's, not just well formed).
    """
    if isinstance(record, DecisionRecord):
        body = canonical_json(msgspec.structs.replace(record, prev_hash=prev_hash))
    else:  # a record read back: its old hash and seal are not part of what is hashed
        fields = {k: v for k, v in record.items() if k not in ("hash", "seal")}
        body = canonical_json({**fields, "prev_hash": prev_hash})
    digest = _digest(prev_hash, body)
    tail = b""
    if key is not None:
        tail = b',"seal":' + canonical_json(signing.seal_of(digest, *key))
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"' + tail + b"}", digest


def _digest(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()
