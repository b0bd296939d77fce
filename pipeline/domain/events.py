"""Input events of CONTRACT §2 as msgspec Structs, and their strict decoding.

Decoding is one msgspec call on the fast path; only a record that fails is looked at a
second time, to pick the dead-letter code the contract asks for.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from pipeline.domain.errors import InvalidEvent, LiveGateError

DOMAINS: Final = ("health", "finance", "law", "education")
SURFACES: Final = ("live", "short_video", "showcase")

Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]+$", min_length=1, max_length=128)]
# Other ids (streams, links, products) are not constrained by the contract beyond being
# non-empty; a bound keeps hostile values from bloating the creator state.
Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Ms = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Title = Annotated[str, msgspec.Meta(max_length=512)]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Domain = Literal["health", "finance", "law", "education"]
Surface = Literal["live", "short_video", "showcase"]
Source = Literal["user", "inspection", "machine"]
# v3 (CONTRACT §2, §11): a platform name; a missing one is the creator's platform.
Platform = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9._-]{1,32}$")]
SweepId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]


class _Event(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag_field="type"):
    event_id: Ident
    ts: Ms
    creator_id: Ident
    platform: Platform | None = None


class StreamStarted(_Event, frozen=True, gc=False, tag="stream_started"):
    stream_id: Ref
    category: Label
    title: Title | None = None


class StreamUpdated(_Event, frozen=True, gc=False, tag="stream_updated"):
    stream_id: Ref
    category: Label | None = None
    title: Title | None = None

    def __post_init__(self) -> None:
        if self.category is None and self.title is None:
            raise ValueError("stream_updated needs `category` and/or `title`")


class StreamEnded(_Event, frozen=True, gc=False, tag="stream_ended"):
    stream_id: Ref


class ProductLinked(_Event, frozen=True, gc=False, tag="product_linked"):
    link_id: Ref
    product_id: Ref
    surface: Surface
    product_category: Label
    stream_id: Ref | None = None
    video_id: Ref | None = None

    def __post_init__(self) -> None:
        if self.surface == "live" and self.stream_id is None:
            raise ValueError("`stream_id` is required when `surface` is `live`")


class ProductUnlinked(_Event, frozen=True, gc=False, tag="product_unlinked"):
    link_id: Ref


class Report(_Event, frozen=True, gc=False, tag="report"):
    source: Source
    reason: Label
    reporter_id: Ref | None = None
    stream_id: Ref | None = None
    video_id: Ref | None = None
    domain: Domain | None = None
    confidence: Confidence | None = None

    def __post_init__(self) -> None:
        if self.source == "user" and self.reporter_id is None:
            raise ValueError("`reporter_id` is required when `source` is `user`")
        if self.source == "machine" and self.confidence is None:
            raise ValueError("`confidence` is required when `source` is `machine`")


class CertificationGranted(_Event, frozen=True, gc=False, tag="certification_granted"):
    domain: Domain
    license_id: Ref
    issuer: Ref
    valid_from: Ms
    valid_until: Ms
    profession: Label | None = None

    def __post_init__(self) -> None:
        if self.valid_from >= self.valid_until:
            raise ValueError("`valid_from` must be earlier than `valid_until`")


class CertificationRevoked(_Event, frozen=True, gc=False, tag="certification_revoked"):
    domain: Domain
    reason: Annotated[str, msgspec.Meta(max_length=1024)]


Note = Annotated[str, msgspec.Meta(max_length=2000)]
# A reviewer's id (CONTRACT §12): a sign-in name, never free text.
ReviewerId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]


class ReviewDecided(_Event, frozen=True, gc=False, tag="review_decided"):
    """A person's verdict on a review item (CONTRACT §9): `review_id` is the flag's action_id."""

    review_id: Ref
    verdict: Literal["confirm", "dismiss"]
    reviewer_id: ReviewerId
    note: Note | None = None


class AppealFiled(_Event, frozen=True, gc=False, tag="appeal_filed"):
    appeal_id: Ident
    action_id: Ref
    statement: Note | None = None


class AppealDecided(_Event, frozen=True, gc=False, tag="appeal_decided"):
    appeal_id: Ident
    verdict: Literal["uphold", "overturn"]
    reviewer_id: ReviewerId
    note: Note | None = None


class ExemptionGranted(_Event, frozen=True, gc=False, tag="exemption_granted"):
    """v3 (CONTRACT §10): rule `rule_id` (None: every rule) acts as shadow for the creator
    from this event's `ts` until `until`."""

    exemption_id: Ident
    until: Ms
    reason: Note
    granted_by: ReviewerId
    rule_id: Label | None = None


class ExemptionRevoked(_Event, frozen=True, gc=False, tag="exemption_revoked"):
    exemption_id: Ident


class PolicySweep(_Event, frozen=True, gc=False, tag="policy_sweep"):
    """A rule applied to a creator with no new event (CONTRACT §11), signed (§12)."""

    sweep_id: SweepId
    rule_id: Label


class ExpiryDue(_Event, frozen=True, gc=False, tag="expiry_due"):
    """Internal: scheduled by the worker for the moment a qualification in use expires."""

    domain: Domain
    stream_id: Ref | None = None


LiveEvent = StreamStarted | StreamUpdated | StreamEnded
CommerceEvent = ProductLinked | ProductUnlinked
ReportEvent = Report
CertEvent = CertificationGranted | CertificationRevoked
ExpiryEvent = ExpiryDue
ReviewEvent = (
    ReviewDecided | AppealFiled | AppealDecided | ExemptionGranted | ExemptionRevoked | PolicySweep
)
Event = (
    StreamStarted
    | StreamUpdated
    | StreamEnded
    | ProductLinked
    | ProductUnlinked
    | Report
    | CertificationGranted
    | CertificationRevoked
    | ExpiryDue
    | ReviewDecided
    | AppealFiled
    | AppealDecided
    | ExemptionGranted
    | ExemptionRevoked
    | PolicySweep
)

_KINDS: Final[dict[str, tuple[type[_Event], ...]]] = {
    "live": (StreamStarted, StreamUpdated, StreamEnded),
    "commerce": (ProductLinked, ProductUnlinked),
    "reports": (Report,),
    "certs": (CertificationGranted, CertificationRevoked),
    "expiries": (ExpiryDue,),
    "reviews": (
        ReviewDecided,
        AppealFiled,
        AppealDecided,
        ExemptionGranted,
        ExemptionRevoked,
        PolicySweep,
    ),
}
KINDS: Final = tuple(_KINDS)
# type tag -> kind, so a recorded event can be decoded again without knowing its topic.
KIND_OF_TYPE: Final[dict[str, str]] = {
    str(cls.__struct_config__.tag): kind for kind, classes in _KINDS.items() for cls in classes
}
_TYPES_OF_KIND: Final[dict[str, frozenset[str]]] = {
    kind: frozenset(str(c.__struct_config__.tag) for c in classes)
    for kind, classes in _KINDS.items()
}
_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "live": msgspec.json.Decoder(LiveEvent),
    "commerce": msgspec.json.Decoder(CommerceEvent),
    "reports": msgspec.json.Decoder(ReportEvent),
    "certs": msgspec.json.Decoder(CertEvent),
    "expiries": msgspec.json.Decoder(ExpiryEvent),
    "reviews": msgspec.json.Decoder(ReviewEvent),
}


class _Head(msgspec.Struct, gc=False):
    """Just the tag: the second look at a record that failed to decode."""

    type: object = msgspec.UNSET


_HEAD_DECODER: Final = msgspec.json.Decoder(_Head)
_ENCODER: Final = msgspec.json.Encoder()


def decode_event(
    kind: str,
    key: bytes | None,
    value: bytes,
    *,
    max_bytes: int = 65536,
    record_ts_ms: int | None = None,
) -> Event:
    """Decode one record of topic kind `kind`; raise InvalidEvent with its DLQ code.

    With `record_ts_ms` (the record's Kafka timestamp: the worker's path) the event's `ts`
    must also be in range (CONTRACT v2 §6); replays of recorded events pass none.
    """
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise LiveGateError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")
    if len(value) > max_bytes:
        raise InvalidEvent("too_large", f"value is {len(value)} bytes, over the {max_bytes} limit")
    try:
        # msgspec skips unknown fields without checking their UTF-8, so check it all here.
        bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("invalid_json", f"value is not valid UTF-8: {exc.reason}") from None
    try:
        event: Event = decoder.decode(value)
    except msgspec.ValidationError as exc:
        raise _classify(kind, value, exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent("invalid_json", str(exc)) from None
    except RecursionError:
        raise InvalidEvent("invalid_json", "JSON is nested too deeply") from None
    _check_key(key, event.creator_id)
    if record_ts_ms is not None:
        check_ts(event.ts, record_ts_ms)
    return event


EARLIEST_TS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_AHEAD_MS: Final = 3_600_000


def check_ts(ts: int, record_ts_ms: int) -> None:
    """`ts_out_of_range` (CONTRACT v2 §6): before 2000-01-01, or more than one hour after
    the record's Kafka timestamp. One far-future ts would otherwise pin the creator's
    newest time: live streams forgotten, decided ids dropped for good (issue 12 #6).
    A record without a timestamp (-1, old message formats) has no upper bound."""
    if ts < EARLIEST_TS:
        raise InvalidEvent("ts_out_of_range", f"ts {ts} is before 2000-01-01 ({EARLIEST_TS})")
    if record_ts_ms >= 0 and ts > record_ts_ms + MAX_AHEAD_MS:
        raise InvalidEvent(
            "ts_out_of_range",
            f"ts {ts} is {ts - record_ts_ms} ms after the record's timestamp {record_ts_ms}"
            f" (at most {MAX_AHEAD_MS} allowed): is it in milliseconds?",
        )


def _check_key(key: bytes | None, creator_id: str) -> None:
    if key is None:
        raise InvalidEvent("key_mismatch", "record has no key; expected the creator_id")
    try:
        text = bytes(key).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("key_mismatch", "record key is not valid UTF-8") from None
    if text != creator_id:
        raise InvalidEvent("key_mismatch", f"key {text[:140]!r} != creator_id {creator_id!r}")


def _classify(kind: str, value: bytes, exc: msgspec.ValidationError) -> InvalidEvent:
    """Pick the DLQ code for a record whose JSON parsed but did not fit the schema."""
    # The first decode may have stopped early; reading the whole record can still find
    # it malformed or too deep, which makes it invalid JSON rather than a schema problem.
    try:
        head = _HEAD_DECODER.decode(value)
    except msgspec.ValidationError as probe:
        return InvalidEvent("invalid_json", f"value is not a JSON object: {probe}")
    except msgspec.DecodeError as probe:
        return InvalidEvent("invalid_json", str(probe))
    except RecursionError:
        return InvalidEvent("invalid_json", "JSON is nested too deeply")
    tag = head.type
    if isinstance(tag, str) and tag not in _TYPES_OF_KIND[kind]:
        allowed = ", ".join(sorted(_TYPES_OF_KIND[kind]))
        return InvalidEvent("unknown_type", f"type {tag[:64]!r} is not one of {allowed}")
    return InvalidEvent("schema", _detail(exc))


def _detail(exc: msgspec.ValidationError) -> str:
    # msgspec says "Object missing required field `x`" or "... - at `$.x`"; the contract's
    # readers want the location spelled out, also for top-level problems.
    text = str(exc)
    if " - at `" in text:
        what, where = text.split(" - at ", 1)
        return f"{what[:1].lower()}{what[1:]} at {where}"
    if text.startswith("Object missing"):
        return text.replace("Object missing", "missing", 1) + " at `$`"
    return text


def encode_event(event: Event) -> bytes:
    return _ENCODER.encode(event)


def event_from_builtins(body: dict[str, Any]) -> tuple[str, Event]:
    """A recorded event (`event_to_builtins`, as a decision record holds it) decoded again,
    with its kind (from its type, whatever topic it came in); InvalidEvent if it does not."""
    kind = KIND_OF_TYPE.get(str(body.get("type")))
    if kind is None:
        raise InvalidEvent("schema", f"unknown event type {body.get('type')!r}")
    key = str(body.get("creator_id", "")).encode()
    return kind, decode_event(kind, key, _ENCODER.encode(body), max_bytes=1 << 30)


def event_to_builtins(event: Event) -> dict[str, Any]:
    """The event as plain JSON types, `type` included (the decision record's `event`)."""
    out: dict[str, Any] = msgspec.to_builtins(event)
    return out


def event_type(event: Event) -> str:
    return str(type(event).__struct_config__.tag)
