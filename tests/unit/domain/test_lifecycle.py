"""CONTRACT §10 in the domain: a rule's mode, rollout, expiry and daily cap, and exemptions,
decided purely from the event, the policy version and the creator state."""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from pipeline.domain.activation import (
    PolicyBook,
    activation_id,
    encode_activation,
    new_activation,
    parse_activation,
    version_clock,
)
from pipeline.domain.decide import decide
from pipeline.domain.errors import LiveGateError, PolicyError
from pipeline.domain.events import ExemptionGranted, ExemptionRevoked, StreamStarted
from pipeline.domain.lifecycle import bucket, utc_day
from pipeline.domain.policy import load_policy
from pipeline.domain.state import Exemption
from tests.unit.domain.builders import (
    CREATOR,
    DAY,
    HOUR,
    POLICY,
    POLICY_TEXT,
    T0,
    pairs,
    run,
    started,
)

RULE_BLOCK = "  live.unqualified:\n    severity: serious\n"


def with_rule(extra: str) -> str:
    """The default policy with `extra` lines added to live.unqualified's block."""
    assert RULE_BLOCK in POLICY_TEXT
    return POLICY_TEXT.replace(RULE_BLOCK, RULE_BLOCK + extra, 1)


def policy_with(extra: str):  # type: ignore[no-untyped-def]
    return load_policy(with_rule(extra))


HEALTH = started(category="health")


def test_enforce_by_default_acts() -> None:
    d = run(HEALTH)
    assert ("cut_off_stream", "live.unqualified") in pairs(d)
    assert d.shadow == []


def test_shadow_rule_records_what_it_would_do_and_changes_nothing() -> None:
    p = policy_with("    mode: shadow\n")
    d = run(HEALTH, policy=p)
    assert d.actions == []
    assert d.outcome == "allow"
    assert [s.rule_id for s in d.shadow] == ["live.unqualified"]
    would = {(a.action, a.rule_id) for a in d.shadow[0].actions}
    assert ("cut_off_stream", "live.unqualified") in would
    assert ("deduct_credit", "live.unqualified") in would
    assert d.new_state.credit == p.credit.start  # credit unchanged
    assert "s1" in d.new_state.streams  # the stream was not cut off


@pytest.mark.parametrize("written", ["off", "'off'", "false"])
def test_off_rule_is_not_evaluated(written: str) -> None:
    p = policy_with(f"    mode: {written}\n")
    assert p.rules["live.unqualified"].life.mode == "off"
    d = run(HEALTH, policy=p)
    assert d.actions == [] and d.shadow == []


def test_expired_rule_no_longer_fires_from_expires_at() -> None:
    p = policy_with(f"    expires_at: {T0}\n")
    before = run(started(category="health", ts=T0 - 1), policy=p)
    at = run(started(category="health", ts=T0), policy=p)
    assert ("cut_off_stream", "live.unqualified") in pairs(before)
    assert at.actions == [] and at.shadow == []


def test_expires_at_as_iso_time() -> None:
    p = policy_with("    expires_at: 2027-01-15T08:00:00Z\n")
    assert p.rules["live.unqualified"].life.expires_at == 1_800_000_000_000
    quoted = policy_with("    expires_at: '2027-01-15T08:00:00+00:00'\n")
    assert quoted.rules["live.unqualified"].life.expires_at == 1_800_000_000_000


def test_bucket_is_the_contract_formula() -> None:
    digest = hashlib.sha256(b"salt-1:creator-42").hexdigest()
    assert bucket("salt-1", "creator-42") == int(digest[:8], 16) % 100


def test_rollout_enforces_below_percent_and_shadows_the_rest() -> None:
    p = policy_with("    rollout: {percent: 50, salt: s}\n")
    enforced = 0
    for i in range(1000):
        cid = f"c-{i}"
        ev = msgspec.structs.replace(HEALTH, creator_id=cid)
        d = run(ev, policy=p)
        acted = ("cut_off_stream", "live.unqualified") in pairs(d)
        assert acted == (bucket("s", cid) < 50)
        assert acted != bool(d.shadow)
        enforced += acted
    assert 450 <= enforced <= 550


def test_exemption_shadows_the_rule_until_it_ends() -> None:
    st = run(started(stream="s0", category="gaming", ts=T0 - 10)).new_state
    st.exemptions = {"x1": Exemption(rule_id="live.unqualified", until=T0 + DAY,
                                     granted_ts=T0 - 10)}  # fmt: skip
    during = run(started(category="health", ts=T0), None, st)
    assert during.actions == [] and during.shadow[0].rule_id == "live.unqualified"
    after = run(started(category="health", ts=T0 + DAY), None, st)
    assert ("cut_off_stream", "live.unqualified") in pairs(after)


def test_exemption_of_every_rule() -> None:
    st = run(started(stream="s0", category="gaming", ts=T0 - 10)).new_state
    st.exemptions = {"x1": Exemption(rule_id=None, until=T0 + DAY, granted_ts=T0 - 10)}
    assert run(started(category="health", ts=T0), None, st).actions == []


def test_daily_cap_without_count_asks_for_it_and_past_it_holds() -> None:
    p = policy_with("    daily_cap: 3\n")
    first = run(HEALTH, policy=p)
    assert [(c.rule_id, c.count, c.cap) for c in first.capped] == [("live.unqualified", None, 3)]
    within = decide(HEALTH, {}, None, p, T0, None, None, {"live.unqualified": 3})
    assert within is not None and within.held is None and within.actions
    past = decide(HEALTH, {}, None, p, T0, None, None, {"live.unqualified": 4})
    assert past is not None and past.held == "daily_cap"
    assert past.new_state.credit == p.credit.start and HEALTH.event_id not in past.new_state.decided


@pytest.mark.parametrize(
    ("extra", "line_of", "words"),
    [
        ("    mode: sometimes\n", "mode", "not one of"),
        ("    rollout: {percent: 120, salt: s}\n", "rollout", "out of range"),
        ("    rollout: {percent: 20}\n", "rollout", "missing key `salt`"),
        ("    expires_at: soon\n", "expires_at", "expected a time"),
        ("    daily_cap: -1\n", "daily_cap", "out of range"),
    ],
)
def test_bad_lifecycle_fields_name_their_line(extra: str, line_of: str, words: str) -> None:
    text = with_rule(extra)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.strip().startswith(line_of))
    with pytest.raises(PolicyError) as info:
        load_policy(text)
    assert words in str(info.value)
    assert f":{line}" in str(info.value) or f"line {line}" in str(info.value)


def test_utc_day() -> None:
    assert utc_day(0) == "19700101"
    assert utc_day(DAY - 1) == "19700101"


# --- activations -------------------------------------------------------------------------


def book_of(*items: tuple[str, int, int]) -> PolicyBook:
    """(text, effective_from, activated_at) each."""
    return PolicyBook([(new_activation(t, f, "test", at), load_policy(t)) for t, f, at in items])


OTHER = with_rule("    mode: shadow\n")


def test_version_in_force_by_clock() -> None:
    book = book_of((POLICY_TEXT, 0, 1), (OTHER, T0, 2))
    assert book.at(T0 - 1).version == POLICY.version
    assert book.at(T0).version == load_policy(OTHER).version
    assert book.latest.version == load_policy(OTHER).version


def test_equal_effective_from_later_activated_at_wins() -> None:
    book = book_of((OTHER, T0, 5), (POLICY_TEXT, T0, 9))
    assert book.at(T0).version == POLICY.version
    book = book_of((OTHER, T0, 9), (POLICY_TEXT, T0, 5))
    assert book.at(T0).version == load_policy(OTHER).version


def test_version_clock_is_the_earlier_of_ts_and_record_ts() -> None:
    assert version_clock(100, 50) == 50
    assert version_clock(100, 200) == 100
    assert version_clock(100, -1) == 100
    assert version_clock(100, None) == 100


def test_activation_round_trip_and_checks() -> None:
    a = new_activation(POLICY_TEXT, T0, "me", T0 - 5)
    assert a.activation_id == f"{T0:013d}:{POLICY.version}" == activation_id(T0, POLICY.version)
    assert parse_activation(encode_activation(a)) == a
    forged = msgspec.json.encode({**msgspec.to_builtins(a), "text": OTHER})
    with pytest.raises(LiveGateError):
        parse_activation(forged)
    with pytest.raises(LiveGateError):
        parse_activation(b"rules: {}")  # a v2 bare text: history, not an activation


def test_book_rejects_nothing() -> None:
    with pytest.raises(LiveGateError):
        PolicyBook([])


# --- exemptions as events ----------------------------------------------------------------


def granted_ex(
    rule: str | None = "live.unqualified", *, until: int, ts: int = T0, xid: str = "x1"
) -> ExemptionGranted:
    return ExemptionGranted(
        event_id=f"g-{xid}-{ts}", ts=ts, creator_id=CREATOR, exemption_id=xid, rule_id=rule,
        until=until, reason="under review", granted_by="lead@t",
    )  # fmt: skip


def revoked_ex(*, ts: int, xid: str = "x1") -> ExemptionRevoked:
    return ExemptionRevoked(event_id=f"r-{xid}-{ts}", ts=ts, creator_id=CREATOR, exemption_id=xid)


def health_at(ts: int, sid: str) -> StreamStarted:
    return started(stream=sid, category="health", ts=ts, eid=f"e-{sid}")


def test_granted_exemption_shadows_until_until_then_enforces() -> None:
    g = run(granted_ex(until=T0 + DAY))
    assert g.outcome == "allow" and g.rejected is None and "x1" in g.new_state.exemptions
    during = run(health_at(T0 + 10, "s1"), None, g.new_state)
    assert during.actions == [] and during.shadow[0].rule_id == "live.unqualified"
    after = run(health_at(T0 + DAY, "s2"), None, during.new_state)
    assert ("cut_off_stream", "live.unqualified") in pairs(after)


def test_revoked_early_it_enforces_from_the_revocation_ts() -> None:
    g = run(granted_ex(until=T0 + DAY))
    r = run(revoked_ex(ts=T0 + HOUR), None, g.new_state)
    assert r.outcome == "allow" and r.rejected is None
    late = run(health_at(T0 + HOUR - 1, "s1"), None, r.new_state)  # before the revocation
    assert late.actions == []
    now = run(health_at(T0 + HOUR, "s2"), None, r.new_state)
    assert ("cut_off_stream", "live.unqualified") in pairs(now)


def test_exemption_bad_references_are_rejected() -> None:
    unknown_rule = run(granted_ex("live.nonsense", until=T0 + DAY))
    assert unknown_rule.rejected is not None and unknown_rule.rejected.code == "unknown_reference"
    too_long = run(granted_ex(until=T0 + 31 * DAY))
    assert too_long.rejected is not None and "30 days" in too_long.rejected.detail
    never = run(revoked_ex(ts=T0))
    assert never.rejected is not None and never.rejected.code == "unknown_reference"


def test_exemptions_are_bounded_and_forgotten_after_their_end() -> None:
    st = None
    for i in range(POLICY.max_exemptions + 3):
        st = run(granted_ex(until=T0 + DAY + i, xid=f"x{i}"), None, st).new_state
    assert st is not None and len(st.exemptions) == POLICY.max_exemptions
    later = run(health_at(T0 + 3 * DAY, "s9"), None, st).new_state
    assert later.exemptions == {}
