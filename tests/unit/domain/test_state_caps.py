"""Bounded creator state (issue 12 #1): every per-creator collection has a cap from the
policy's `state:` block, each cap has a defined consequence, and no decision record can
pass 256 KB whatever a creator does."""

from __future__ import annotations

import msgspec
import pytest

from pipeline.domain.audit import GENESIS, DecisionRecord, Source, decision_id, seal
from pipeline.domain.certifications import Certification
from pipeline.domain.decide import Decision, decide
from pipeline.domain.errors import PolicyError
from pipeline.domain.events import (
    CertificationRevoked,
    Event,
    Report,
    StreamEnded,
    StreamStarted,
    event_to_builtins,
    event_type,
)
from pipeline.domain.policy import load_policy
from pipeline.domain.state import CreatorState
from tests.unit.domain.builders import (
    CREATOR,
    MIN,
    POLICY,
    POLICY_TEXT,
    PRO,
    SEC,
    T0,
    ended,
    report,
    started,
)

RECORD_LIMIT = 256 * 1024


def drive(events: list[Event], snapshot=None, state: CreatorState | None = None, policy=POLICY):
    """Decide events in order; return the final state and every decision."""
    decisions: list[tuple[Event, Decision]] = []
    for ev in events:
        d = decide(ev, snapshot if snapshot is not None else {}, state, policy, ev.ts)
        assert d is not None
        decisions.append((ev, d))
        state = d.new_state
    assert state is not None
    return state, decisions


def brigade(n: int, stream: str = "s1", domain: str | None = "health") -> list[Report]:
    return [
        report(reporter=f"u{i}", stream=stream, domain=domain, ts=T0 + i * 10, eid=f"r{i}")
        for i in range(n)
    ]


# --- reporters per window -----------------------------------------------------------------


def test_a_brigade_past_the_reporter_cap_fires_once_and_the_window_stays_bounded():
    cap = POLICY.caps.reporters_per_window
    state, decisions = drive([started("s1", "gaming", ts=T0 - MIN), *brigade(2000)])
    fired = [(ev.event_id, d) for ev, d in decisions if "reports.threshold" in d.rule_ids]
    assert [eid for eid, _ in fired] == ["r4"]  # the fifth distinct reporter, once
    cuts = [a for _, d in decisions for a in d.actions if a.action == "cut_off_stream"]
    assert [(a.stream_id, a.rule_id) for a in cuts] == [("s1", "reports.threshold")]
    window = state.reports["s1"]
    assert len(window.reporters) == cap and len(window.events) == cap
    assert set(window.reporters) == {f"u{i}" for i in range(2000 - cap, 2000)}  # the newest
    assert window.fired == ("health",)
    for _, d in decisions:  # no window, and so no state_before, grows with the brigade
        assert len(d.state_before["reports"].get("s1", {}).get("reporters", {})) <= cap


def test_a_brigade_on_a_stream_without_a_domain_still_fires_once_past_the_cap():
    # The rule needs only the count up to its threshold: a window capped at 20 fires for a
    # new domain named by later reports too, with at most 20 pieces of evidence.
    events = [started("s1", "gaming", ts=T0 - MIN), *brigade(100, domain=None)]
    events += [
        report(reporter=f"v{i}", stream="s1", domain="finance", ts=T0 + 2000 + i, eid=f"f{i}")
        for i in range(3)
    ]
    _, decisions = drive(events)
    fired = [d for _, d in decisions if "reports.threshold" in d.rule_ids]
    assert len(fired) == 1
    cut = next(a for a in fired[0].actions if a.action == "cut_off_stream")
    assert len(cut.evidence) == POLICY.caps.reporters_per_window
    assert cut.evidence[0] == "f0" and "at least 20 users" in cut.reason


def test_long_or_unprintable_reporter_ids_are_counted_by_digest():
    odd = ["\x01" * 256, "\x01" * 255 + "\x02", "用户" * 100, "u\n1", "u1"]
    reports = [
        report(reporter=r, stream="s1", domain="health", ts=T0 + i, eid=f"r{i}")
        for i, r in enumerate(odd)
    ]
    state, decisions = drive([started("s1", "gaming", ts=T0 - MIN), *reports])
    assert "reports.threshold" in decisions[-1][1].rule_ids  # five distinct reporters
    keys = set(state.reports["s1"].reporters)
    assert "u1" in keys and all(len(k.encode()) <= 64 for k in keys)


# --- live streams -------------------------------------------------------------------------


def test_over_the_live_stream_cap_the_oldest_are_dropped_and_the_creator_flagged_once():
    cap = POLICY.caps.live_streams
    events = [started(f"s{i:03d}", "gaming", ts=T0 + i * SEC, eid=f"e{i}") for i in range(30)]
    state, decisions = drive(events)
    assert sorted(state.streams) == [f"s{i:03d}" for i in range(30 - cap, 30)]
    flags = [a for _, d in decisions for a in d.actions]
    assert [(a.action, a.rule_id, a.stream_id) for a in flags] == [
        ("flag_for_review", "state.live_stream_cap", f"s{cap:03d}")
    ]
    assert decisions[cap][1].outcome == "review"
    assert f"more than {cap} live streams" in flags[0].reason and "s000" in flags[0].reason
    assert state.over_stream_cap


def test_back_under_the_cap_a_later_excursion_is_flagged_again():
    cap = POLICY.caps.live_streams
    opens = [started(f"s{i}", "gaming", ts=T0 + i, eid=f"e{i}") for i in range(cap + 1)]
    ends = [ended(f"s{i}", ts=T0 + 100 + i, eid=f"x{i}") for i in range(cap - 2, cap + 1)]
    again = [started(f"t{i}", "gaming", ts=T0 + 200 + i, eid=f"t{i}") for i in range(4)]
    _, decisions = drive([*opens, *ends, *again])
    flagged = [ev.event_id for ev, d in decisions if d.rule_ids == ["state.live_stream_cap"]]
    assert flagged == [f"e{cap}", "t3"]


def test_the_newest_stream_is_kept_and_judged_when_the_creator_is_over_the_cap():
    cap = POLICY.caps.live_streams
    events = [started(f"s{i}", "gaming", ts=T0 + i, eid=f"e{i}") for i in range(cap)]
    events.append(started("doc", "health", ts=T0 + 100, eid="e-doc"))
    state, decisions = drive(events)
    last = decisions[-1][1]
    assert {a.action for a in last.actions} >= {"cut_off_stream", "flag_for_review"}
    assert "doc" not in state.streams and "doc" in state.ended


# --- ended streams and report windows -----------------------------------------------------


def test_ended_streams_and_report_windows_keep_the_newest_up_to_their_caps():
    caps = POLICY.caps
    events: list[Event] = []
    for i in range(100):
        events += [
            started(f"s{i:03d}", "gaming", ts=T0 + i * SEC, eid=f"a{i}"),
            ended(f"s{i:03d}", ts=T0 + i * SEC + 1, eid=f"b{i}"),
        ]
    events += [
        report(reporter="u1", stream=f"w{i:02d}", ts=T0 + 200 * SEC + i, eid=f"r{i}")
        for i in range(40)
    ]
    state, _ = drive(events)
    assert sorted(state.ended) == [f"s{i:03d}" for i in range(100 - caps.ended_streams, 100)]
    assert sorted(state.reports) == [f"w{i:02d}" for i in range(40 - caps.report_windows, 40)]


# --- the policy's state: block ------------------------------------------------------------


def test_caps_are_read_from_the_state_block():
    text = POLICY_TEXT.replace("  live_streams: 8\n", "  live_streams: 3\n")
    assert load_policy(text).caps.live_streams == 3
    assert POLICY.caps.live_streams == 8 and POLICY.caps.reporters_per_window == 20
    # Optional: a policy without them (an older recorded one) gets the defaults.
    for line in ("  live_streams: 8\n", "  ended_streams: 32\n", "  report_windows: 6\n"):
        text = text.replace(line, "")
    assert load_policy(text.replace("  live_streams: 3\n", "")).caps == POLICY.caps


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("  live_streams: 8\n", "  live_streams: 9\n", "out of range"),
        ("  ended_streams: 32\n", "  ended_streams: 0\n", "out of range"),
        ("  report_windows: 6\n", "  report_windows: many\n", "integer"),
        ("  reporters_per_window: 20\n", "  reporters_per_window: 4\n", "could never fire"),
        ("  reporters_per_window: 20\n", "  reporters_per_windows: 20\n", "unknown key"),
    ],
)
def test_a_bad_cap_is_refused_with_its_line(old, new, words):
    text = POLICY_TEXT.replace(old, new)
    with pytest.raises(PolicyError) as info:
        load_policy(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t == new.rstrip("\n"))
    assert info.value.line == line and words in info.value.reason


# --- no decision record over 256 KB -------------------------------------------------------


def long_id(i: int, n: int = 256) -> str:
    """A distinct id of n characters, almost all control characters (6 bytes in JSON)."""
    head = f"{i:05d}"
    return head + "\x01" * (n - len(head))


def big_cert(status: str) -> Certification:
    return Certification(
        status=status, license_id=long_id(1), issuer=long_id(2), profession=long_id(3, 128),
        valid_from=T0 - 86_400_000, valid_until=T0 + 86_400_000, updated_at=T0 - 1,
        event_id="c" * 128,
    )  # fmt: skip


def record_size(ev: Event, d: Decision) -> int:
    """The bytes of the decision record the worker writes, held (actions included): the
    largest form a decision takes."""
    record = DecisionRecord(
        decision_id=decision_id(ev.creator_id, ev.event_id), event=event_to_builtins(ev),
        event_id=ev.event_id, event_type=event_type(ev), creator_id=ev.creator_id,
        outcome=d.outcome, action_ids=[a.action_id for a in d.actions],
        rule_ids=list(d.rule_ids), certifications=d.certifications,
        state_before=d.state_before, policy_version=POLICY.version, event_ts=ev.ts,
        decided_at=ev.ts, source=Source("t" * 249, 2**31 - 1, 2**63 - 1), held=True,
        held_actions=[msgspec.to_builtins(a) for a in d.actions],
    )  # fmt: skip
    value, _ = seal(record, GENESIS)
    return len(value)


def worst_creator() -> list[tuple[Event, dict]]:
    """(event, certifications) a hostile creator sends: every id at its longest and in
    control characters, streams, ended streams and report windows past every cap, a
    brigade with long reporter ids, then a revocation that cuts every live stream."""
    qualified = {d: big_cert("active") for d in ("health", "finance", "law", "education")}
    revoked = {**qualified, "health": big_cert("revoked")}
    out: list[tuple[Event, dict]] = []
    t = T0
    title = "\x01" * 512

    def add(ev: Event, snapshot: dict = qualified) -> None:
        out.append((ev, snapshot))

    for i in range(60):  # streams that end: past the ended cap
        t += 1
        sid = long_id(10_000 + i)
        add(StreamStarted(event_id=f"a{i}", ts=t, creator_id=CREATOR, stream_id=sid,
                          category="\x01" * 128, title=title))  # fmt: skip
        add(StreamEnded(event_id=f"b{i}", ts=t, creator_id=CREATOR, stream_id=sid))
    for i in range(40):  # live health streams, far past the live cap
        t += 1
        add(StreamStarted(event_id=f"c{i}", ts=t, creator_id=CREATOR, stream_id=long_id(i),
                          category="health", title=title))  # fmt: skip
    for w in range(12):  # report windows past their cap, each with a brigade past its cap
        for r in range(40):
            t += 1
            add(Report(event_id=f"{'r' * 100}{w:03d}{r:03d}{'x' * 22}", ts=t,
                       creator_id=CREATOR, source="user", reason=PRO,
                       reporter_id=long_id(w * 100 + r), stream_id=long_id(20_000 + w),
                       domain="health"), revoked)  # fmt: skip
    for w in range(3):  # brigades on live streams: they fire (cut off, deduct, thresholds)
        for r in range(30):
            t += 1
            add(Report(event_id=f"q{w}-{r}-{'z' * 110}", ts=t, creator_id=CREATOR,
                       source="user", reason=PRO, reporter_id=long_id(50_000 + r),
                       stream_id=long_id(39 - w), domain="health"), revoked)  # fmt: skip
    t += 1
    add(CertificationRevoked(event_id="e" * 128, ts=t, creator_id=CREATOR, domain="health",
                             reason="\x01" * 1024), revoked)  # fmt: skip
    return out


def test_no_decision_record_passes_256_kb_whatever_a_creator_does():
    state = None
    sizes: list[tuple[int, str]] = []
    for ev, snapshot in worst_creator():
        d = decide(ev, snapshot, state, POLICY, ev.ts)
        assert d is not None
        sizes.append((record_size(ev, d), event_type(ev)))
        state = d.new_state
    largest, kind = max(sizes)
    print(f"largest decision record: {largest} bytes ({kind}); limit {RECORD_LIMIT}")
    assert largest < RECORD_LIMIT, (largest, kind)
    # The worst case really was reached: the caps, the flag, and a lapse that cut streams.
    assert state is not None
    assert len(state.streams) <= POLICY.caps.live_streams
    assert len(state.ended) == POLICY.caps.ended_streams
    assert len(state.reports) == POLICY.caps.report_windows
    assert state.over_stream_cap


def test_the_review_loop_at_every_cap_keeps_records_under_256_kb():
    """The worst creator, then the review loop's collections filled to their caps with the
    longest ids and texts: enforcements an appeal can reverse, open review items, closed
    ids, open appeals with 2,000-character statements (policy `appeals:` and `review:`)."""
    from pipeline.domain.events import AppealFiled, ProductLinked, ReviewDecided

    state = None
    for ev, snapshot in worst_creator():
        d = decide(ev, snapshot, state, POLICY, ev.ts)
        assert d is not None
        state = d.new_state
    revoked = {d: big_cert("active") for d in ("finance", "law", "education")}
    t = T0 + 10_000
    sizes: list[tuple[int, str]] = []
    appealable: list[str] = []

    def run(ev: Event) -> Decision:
        nonlocal state
        d = decide(ev, revoked, state, POLICY, ev.ts)
        assert d is not None and d.rejected is None, d and d.rejected
        sizes.append((record_size(ev, d), event_type(ev)))
        state = d.new_state
        enforcing = [a.action_id for a in d.actions if a.action not in ("warn", "flag_for_review")]
        if enforcing:
            appealable.append(enforcing[0])  # one per decision: appeals name distinct ones
        return d

    for i in range(POLICY.max_enforcements + 10):  # each one an enforcing decision
        t += 1
        run(ProductLinked(event_id=f"pl{i:03d}" + "p" * 120, ts=t, creator_id=CREATOR,
                              link_id=long_id(70_000 + i), product_id=long_id(80_000 + i),
                              surface="showcase", product_category="drug"))  # fmt: skip

    def flag(i: int) -> str:
        nonlocal t
        t += 1
        d = run(Report(event_id=f"m{i:03d}" + "m" * 120, ts=t, creator_id=CREATOR,
                       source="machine", reason=PRO, confidence=0.7, domain="health",
                       stream_id=None))  # fmt: skip
        return next(a.action_id for a in d.actions if a.action == "flag_for_review")

    for i in range(POLICY.max_closed_items + 10):  # flagged, then dismissed: closed ids
        review_id = flag(i)
        t += 1
        run(ReviewDecided(event_id=f"rv{i:03d}" + "r" * 120, ts=t, creator_id=CREATOR,
                          review_id=review_id, verdict="dismiss",
                          reviewer_id=long_id(90_000 + i), note="\x01" * 2000))  # fmt: skip
    for i in range(POLICY.max_open_reviews + 10):  # flagged and left open
        flag(1000 + i)
    for i, action in enumerate(appealable[-POLICY.max_open_appeals :]):
        t += 1
        run(AppealFiled(event_id=f"af{i}" + "a" * 120, ts=t, creator_id=CREATOR,
                        appeal_id=f"ap{i}" + "a" * 120, action_id=action,
                        statement="\x01" * 2000))  # fmt: skip
    assert state is not None
    assert len(state.enforcements) == POLICY.max_enforcements
    assert len(state.reviews) == POLICY.max_open_reviews
    assert len(state.closed) == POLICY.max_closed_items
    assert len(state.appeals) == POLICY.max_open_appeals
    largest, kind = max(sizes)
    print(f"largest decision record with the review loop full: {largest} bytes ({kind})")
    assert largest < RECORD_LIMIT, (largest, kind)
