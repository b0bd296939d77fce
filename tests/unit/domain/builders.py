"""Readable builders for the rule tables: events, certifications, states, and running decide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.domain.actions import Action
from pipeline.domain.certifications import Certification, CertSnapshot
from pipeline.domain.decide import Decision, decide
from pipeline.domain.events import (
    AppealDecided,
    AppealFiled,
    CertificationGranted,
    CertificationRevoked,
    Event,
    ExpiryDue,
    ProductLinked,
    ProductUnlinked,
    Report,
    ReviewDecided,
    StreamEnded,
    StreamStarted,
    StreamUpdated,
)
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.state import CreatorState, Restrictions, StreamInfo

POLICY_PATH = Path(__file__).resolve().parents[3] / "config" / "policy.yaml"
POLICY_TEXT = POLICY_PATH.read_text(encoding="utf-8")
POLICY = load_policy(POLICY_TEXT)

SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_800_000_000_000  # 2027-01-15, an arbitrary "now" for the tables
CREATOR = "creator-1"
PRO = "unqualified_professional_content"


def started(
    stream: str = "s1", category: str = "gaming", title: str | None = None, *, ts: int = T0,
    eid: str = "e-start",
) -> StreamStarted:  # fmt: skip
    return StreamStarted(
        event_id=eid, ts=ts, creator_id=CREATOR, stream_id=stream, category=category, title=title
    )


def updated(
    stream: str = "s1", category: str | None = None, title: str | None = None, *, ts: int = T0,
    eid: str = "e-update",
) -> StreamUpdated:  # fmt: skip
    return StreamUpdated(
        event_id=eid, ts=ts, creator_id=CREATOR, stream_id=stream, category=category, title=title
    )


def ended(stream: str = "s1", *, ts: int = T0, eid: str = "e-end") -> StreamEnded:
    return StreamEnded(event_id=eid, ts=ts, creator_id=CREATOR, stream_id=stream)


def linked(
    product_category: str = "general", surface: str = "showcase", *, link: str = "l1",
    stream: str | None = None, ts: int = T0, eid: str = "e-link",
) -> ProductLinked:  # fmt: skip
    return ProductLinked(
        event_id=eid, ts=ts, creator_id=CREATOR, link_id=link, product_id=f"p-{link}",
        surface=surface, product_category=product_category,
        stream_id=stream if stream is not None else ("s1" if surface == "live" else None),
    )  # fmt: skip


def unlinked(link: str = "l1", *, ts: int = T0, eid: str = "e-unlink") -> ProductUnlinked:
    return ProductUnlinked(event_id=eid, ts=ts, creator_id=CREATOR, link_id=link)


def report(
    source: str = "user", *, reason: str = PRO, reporter: str | None = None,
    stream: str | None = "s1", domain: str | None = None, confidence: float | None = None,
    ts: int = T0, eid: str = "e-report",
) -> Report:  # fmt: skip
    if source == "user" and reporter is None:
        reporter = "u1"
    return Report(
        event_id=eid, ts=ts, creator_id=CREATOR, source=source, reason=reason,
        reporter_id=reporter, stream_id=stream, domain=domain,
        confidence=confidence,
    )  # fmt: skip


def granted(
    domain: str = "health", *, valid_from: int = T0 - DAY, valid_until: int = T0 + 365 * DAY,
    ts: int = T0, eid: str = "e-grant",
) -> CertificationGranted:  # fmt: skip
    return CertificationGranted(
        event_id=eid, ts=ts, creator_id=CREATOR, domain=domain,
        license_id="LIC-1", issuer="Health Board", valid_from=valid_from,
        valid_until=valid_until, profession="physician",
    )  # fmt: skip


def revoked(domain: str = "health", *, ts: int = T0, eid: str = "e-revoke") -> CertificationRevoked:
    return CertificationRevoked(
        event_id=eid, ts=ts, creator_id=CREATOR, domain=domain,
        reason="license suspended",
    )  # fmt: skip


def expiry(
    domain: str = "health", *, stream: str | None = "s1", ts: int = T0, eid: str = "e-expiry"
) -> ExpiryDue:
    return ExpiryDue(event_id=eid, ts=ts, creator_id=CREATOR, domain=domain, stream_id=stream)


def cert(
    valid_from: int = T0 - 30 * DAY, valid_until: int = T0 + 365 * DAY, status: str = "active"
) -> Certification:
    return Certification(
        status=status,
        license_id="LIC-1", issuer="Board", profession="physician",
        valid_from=valid_from, valid_until=valid_until, updated_at=T0 - 30 * DAY, event_id="c-1",
    )  # fmt: skip


def certs(*domains: str, **special: Certification) -> CertSnapshot:
    """certs("health") = qualified for health; certs(health=cert(status="revoked"))."""
    out = {d: cert() for d in domains}
    out.update(special)
    return out


def stream(
    category: str = "gaming", title: str | None = None, *, ts: int = T0 - MIN,
    policy: Policy = POLICY,
) -> StreamInfo:  # fmt: skip
    """A live stream as the state holds it after its start was judged."""
    domain = policy.category_domain.get(category)
    suspected = None if domain else policy.suspected_domain(title)
    return StreamInfo(
        category=category, title=title, domain=domain, suspected=suspected, started_ts=ts,
        last_ts=ts, judged=(domain,) if domain else (),
        judged_suspected=(suspected,) if suspected else (),
    )  # fmt: skip


def state(
    *, credit: int = 12, streams: dict[str, StreamInfo] | None = None,
    restrictions: Restrictions | None = None, **fields: Any,
) -> CreatorState:  # fmt: skip
    return CreatorState(
        credit=credit, streams=streams or {},
        restrictions=restrictions or Restrictions(), **fields,
    )  # fmt: skip


def run(
    event: Event, certifications: CertSnapshot | None = None, st: CreatorState | None = None,
    *, policy: Policy = POLICY, now: int | None = None,
) -> Decision:  # fmt: skip
    d = decide(event, certifications or {}, st, policy, now if now is not None else event.ts + 5)
    assert d is not None, "event was treated as a duplicate"
    return d


def run_all(
    events: list[Event], certifications: CertSnapshot | None = None,
    st: CreatorState | None = None,
) -> list[Decision]:  # fmt: skip
    out = []
    for ev in events:
        d = run(ev, certifications, st)
        st = d.new_state
        out.append(d)
    return out


def pairs(d: Decision) -> list[tuple[str, str]]:
    """(action, rule_id) of every action, sorted: what the tables compare."""
    return sorted((a.action, a.rule_id) for a in d.actions)


def only(d: Decision, action: str) -> Action:
    found = [a for a in d.actions if a.action == action]
    assert len(found) == 1, f"expected one {action}, got {pairs(d)}"
    return found[0]


def review(
    review_id: str, verdict: str = "confirm", *, reviewer: str = "rev-1", ts: int = T0 + HOUR,
    eid: str = "e-verdict", note: str | None = None,
) -> ReviewDecided:  # fmt: skip
    return ReviewDecided(
        event_id=eid, ts=ts, creator_id=CREATOR, review_id=review_id, verdict=verdict,
        reviewer_id=reviewer, note=note,
    )  # fmt: skip


def appeal(
    action_id: str, *, appeal_id: str = "a-1", ts: int = T0 + HOUR, eid: str = "e-appeal",
    statement: str | None = "I hold the licence",
) -> AppealFiled:  # fmt: skip
    return AppealFiled(
        event_id=eid, ts=ts, creator_id=CREATOR, appeal_id=appeal_id, action_id=action_id,
        statement=statement,
    )  # fmt: skip


def appeal_verdict(
    verdict: str = "overturn", *, appeal_id: str = "a-1", reviewer: str = "rev-1",
    ts: int = T0 + 2 * HOUR, eid: str = "e-appeal-verdict",
) -> AppealDecided:  # fmt: skip
    return AppealDecided(
        event_id=eid, ts=ts, creator_id=CREATOR, appeal_id=appeal_id, verdict=verdict,
        reviewer_id=reviewer,
    )  # fmt: skip


def decide_raw(
    event: Event, certifications: CertSnapshot | None = None, st: CreatorState | None = None,
    record_ts: int | None = None,
) -> Decision:  # fmt: skip
    """decide() without the duplicate assertion's companion: rejections come back too.
    `record_ts`: the input record's Kafka timestamp (default: none known, the event's ts)."""
    d = decide(event, certifications or {}, st, POLICY, event.ts + 5, None, record_ts)
    assert d is not None, "event was treated as a duplicate"
    return d


def chain(events: list[Event], certifications: CertSnapshot | None = None) -> list[Decision]:
    """Decide events one after another from a fresh state; rejected ones leave it as it was."""
    st: CreatorState | None = None
    out = []
    for ev in events:
        d = decide_raw(ev, certifications, st)
        if d.rejected is None:
            st = d.new_state
        out.append(d)
    return out


def act(d: Decision, action: str) -> Action:
    return only(d, action)
