"""Hash-chain checking of the decision log, on hand-made records."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from pipeline.domain.audit import GENESIS, seal
from pipeline.replay.chain import check_partition


def record(n: int, decided_at: int = 1000, **extra: Any) -> dict[str, Any]:
    return {"decision_id": f"d{n}", "event_id": f"e{n}", "creator_id": "c1", "outcome": "allow",
            "action_ids": [], "event_ts": n, "decided_at": decided_at, **extra}  # fmt: skip


def chain(records: list[dict[str, Any]], head: str = GENESIS) -> list[dict[str, Any]]:
    out = []
    for r in records:
        body, head = seal(dict(r), head)
        out.append(json.loads(body))
    return out


def rows(records: list[dict[str, Any] | None]) -> list[tuple[int, dict[str, Any] | None]]:
    return list(enumerate(records))


def test_an_intact_chain_has_no_break():
    result = check_partition(0, rows(chain([record(n) for n in range(5)])))
    assert (result.records, result.breaks, result.conflicts, result.duplicates) == (
        5,
        [],
        [],
        set(),
    )


def test_an_edited_record_is_a_break_at_its_offset():
    recs = chain([record(n) for n in range(5)])
    recs[2]["outcome"] = "enforce"
    result = check_partition(3, rows(recs))
    assert [(f.kind, f.partition, f.offset) for f in result.breaks] == [("break", 3, 2)]
    assert "altered" in result.breaks[0].detail


def test_a_deleted_record_breaks_the_chain_at_the_next_one():
    recs = chain([record(n) for n in range(5)])
    del recs[2]
    result = check_partition(0, rows(recs))
    assert [f.offset for f in result.breaks] == [2]
    assert "missing" in result.breaks[0].detail


def test_the_first_record_must_start_from_genesis():
    recs = chain([record(n) for n in range(3)], head="1" * 64)
    assert [f.offset for f in check_partition(0, rows(recs)).breaks] == [0]
    # A partition whose start was deleted by retention starts wherever it starts.
    assert check_partition(0, rows(recs), starts_at_zero=False).breaks == []


def test_an_identical_re_emitted_record_is_a_duplicate_not_a_break():
    recs = chain([record(n) for n in range(3)])
    recs.insert(2, dict(recs[1]))  # a producer retry wrote record 1 twice
    result = check_partition(0, rows(recs))
    assert result.breaks == [] and result.duplicates == {2}


def test_re_emission_after_a_crash_with_a_new_decided_at_is_a_duplicate():
    first = chain([record(n) for n in range(3)])
    # The worker crashed after writing d1, d2; the new owner read the tail (d2) and re-ran
    # the batch: d1 and d2 again, same content, new decided_at, then a new decision d3.
    again = chain([record(1, 2000), record(2, 2000), record(3, 2000)], head=first[-1]["hash"])
    result = check_partition(0, rows(first + again))
    assert result.breaks == [] and result.conflicts == []
    assert result.duplicates == {3, 4}


def test_a_fork_that_re_emits_seen_decisions_is_acceptable():
    first = chain([record(n) for n in range(4)])
    # A new owner read the tail before d3 landed: it forks from d2 and re-emits d3.
    fork = chain([record(3, 2000), record(4, 2000)], head=first[2]["hash"])
    result = check_partition(0, rows(first + fork))
    assert result.breaks == [] and result.forks == 1 and result.duplicates == {4}


def test_an_outbox_entry_re_sent_from_genesis_is_a_fork_by_re_emission():
    first = chain([record(n) for n in range(2)])
    # A successor re-sent the partition's first entry byte for byte, after a foreign
    # record, then went on from it.
    resent = [dict(r) for r in first]
    result = check_partition(0, rows([*first, None, *resent]))
    assert result.breaks == [] and result.forks == 1 and result.duplicates == {3, 4}
    new = chain([record(9)], head=GENESIS)  # but a new decision from genesis is a break
    result = check_partition(0, rows([*first, *new]))
    assert [f.offset for f in result.breaks] == [2] and "genesis" in result.breaks[0].detail


def test_a_fork_with_a_new_decision_is_a_break():
    first = chain([record(n) for n in range(4)])
    fork = chain([record(9)], head=first[1]["hash"])
    result = check_partition(0, rows(first + fork))
    assert [f.offset for f in result.breaks] == [4]
    assert "forks" in result.breaks[0].detail


def test_a_re_emission_with_different_content_is_a_conflict():
    first = chain([record(n) for n in range(2)])
    again = chain([record(1, 2000, outcome="enforce")], head=first[-1]["hash"])
    result = check_partition(0, rows(first + again))
    assert [(f.kind, f.offset) for f in result.conflicts] == [("conflict", 2)]
    assert result.duplicates == set()


def test_a_value_that_is_not_a_record_is_named_foreign_and_the_chain_goes_past_it():
    recs: list[dict[str, Any] | None] = list(chain([record(n) for n in range(2)]))
    recs.insert(1, None)
    result = check_partition(0, rows(recs))
    assert [(f.kind, f.offset) for f in result.foreign] == [("foreign", 1)]
    assert result.breaks == [] and "LiveGate" in result.foreign[0].detail


def test_a_foreign_record_with_a_hash_of_its_own_is_named_not_a_break():
    # Another producer's JSON with a `hash` field: it does not verify and continues nothing.
    recs: list[dict[str, Any] | None] = list(chain([record(n) for n in range(3)]))
    recs.insert(2, {"hash": "f" * 64, "prev_hash": "e" * 64, "note": "someone else"})
    result = check_partition(0, rows(recs))
    assert [f.offset for f in result.foreign] == [2]
    assert result.breaks == [] and result.forks == 0


def test_late_records_of_a_frozen_worker_fork_past_nothing_new():
    """Issue 12 item 14: a frozen worker's buffered records land after the new owner's,
    forking from the head it knew; the new owner's next record forks past them. Both forks
    only re-emit decisions that are in the log twice: verify passes."""
    head = chain([record(1), record(2)])
    owner = chain([record(3), record(4)], head[-1]["hash"])
    late = chain([record(3, decided_at=999)], head[-1]["hash"])  # decided before the freeze
    after = chain([record(5)], owner[-1]["hash"])
    result = check_partition(0, rows([*head, *owner, *late, *after]))
    assert result.breaks == [] and result.conflicts == [] and result.forks == 2


def test_a_fork_with_a_decision_found_nowhere_else_is_a_break():
    head = chain([record(1), record(2)])
    owner = chain([record(3), record(4)], head[-1]["hash"])
    forged = chain([record(9)], head[-1]["hash"])  # a new decision on a side branch
    after = chain([record(5)], owner[-1]["hash"])
    result = check_partition(0, rows([*head, *owner, *forged, *after]))
    assert len(result.breaks) == 2


KEYS = {"k1": "s3cret"}


def sealed_chain(records: list[dict[str, Any]], head: str = GENESIS) -> list[dict[str, Any]]:
    out = []
    for r in records:
        body, head = seal(dict(r), head, ("k1", "s3cret"))
        out.append(json.loads(body))
    return out


def test_an_append_with_a_recomputed_hash_but_no_valid_seal_is_foreign():
    """CONTRACT §12: an unkeyed hash chain stops edits, not appends: the seal says whose."""
    recs = sealed_chain([record(n) for n in range(3)])
    forged = chain([record(9)], head=recs[-1]["hash"])[0]  # continues the chain, no seal
    badly = sealed_chain([record(8)], head=recs[-1]["hash"])[0]
    badly["seal"] = {"key_id": "k1", "mac": "0" * 64}
    after = sealed_chain([record(3)], head=recs[-1]["hash"])[0]
    result = check_partition(0, rows([*recs, forged, badly, after]), keys=KEYS)
    assert [f.offset for f in result.foreign] == [3, 4]
    assert all("hash verifies" in f.detail for f in result.foreign)
    assert result.breaks == [] and result.unsealed == 0
    # Without keys (before v3) the forgery would have passed as LiveGate's.
    assert check_partition(0, rows([*recs, forged])).foreign == []


def test_records_of_before_v3_are_unsealed_not_foreign_and_the_chain_goes_on():
    old = chain([record(n) for n in range(2)])
    new = sealed_chain([record(n) for n in range(2, 4)], head=old[-1]["hash"])
    result = check_partition(0, rows([*old, *new]), keys=KEYS)
    assert result.foreign == [] and result.breaks == [] and result.unsealed == 2


def test_a_break_before_the_period_is_reported_as_such_and_does_not_fail_it():
    from pipeline.replay.certhistory import CertHistory
    from pipeline.replay.log import ReplayInputs, Row
    from pipeline.replay.verify import Verifier

    recs = chain([record(n) for n in range(6)])
    head = dict(recs[0], outcome="enforce")  # the head just before what was read: edited
    ahead = recs[1:]
    ahead[1] = dict(ahead[1], outcome="enforce")  # an edit ahead of the period, in the slack
    inputs = ReplayInputs(
        "decisions", "actions", {0: [Row(0, n + 1, r) for n, r in enumerate(ahead)]},
        {0: False}, {}, {}, [], CertHistory([]), 0, heads={0: Row(0, 0, head)},
    )  # fmt: skip
    report = Verifier(inputs, 1_000_000, 2_000_000, 1000, progress=False).run()
    assert [(f.kind, f.offset) for f in report.before] == [("break", 0), ("break", 2)]
    assert report.breaks == [] and report.ok
    # The same edit inside the period fails it.
    report = Verifier(inputs, 0, 2_000_000, 1000, progress=False).run()
    assert not report.ok


def test_a_released_held_decision_decided_again_is_no_conflict():
    recs = chain([record(1, held="daily_cap"), record(2), record(1, outcome="enforce")])
    result = check_partition(0, rows(recs))
    assert result.conflicts == [] and result.breaks == []
    # Not held the first time: two decisions of one event are a conflict.
    recs = chain([record(1), record(2), record(1, outcome="enforce")])
    assert [f.offset for f in check_partition(0, rows(recs)).conflicts] == [2]


def test_verify_checks_each_decision_was_made_by_the_version_in_force_at_its_clock():
    from pipeline.domain.activation import PolicyBook, new_activation
    from pipeline.domain.audit import Source, decision_record
    from pipeline.domain.decide import decide
    from pipeline.domain.policy import load_policy
    from pipeline.replay.certhistory import CertHistory
    from pipeline.replay.log import ReplayInputs, Row
    from pipeline.replay.verify import Verifier
    from tests.unit.domain.builders import POLICY, POLICY_TEXT, T0, started

    new_text = POLICY_TEXT.replace(
        "  live.suspected:\n", "  live.suspected:\n    mode: shadow\n", 1
    )
    new = load_policy(new_text)
    book = PolicyBook([(new_activation(POLICY_TEXT, 0, "t", T0 - 100), POLICY),
                       (new_activation(new_text, T0, "t", T0 - 50), new)])  # fmt: skip

    def row(offset: int, ts: int, decided_at: int, head: str) -> tuple[Row, str]:
        ev = started(stream=f"s{offset}", category="gaming", ts=ts, eid=f"e{offset}")
        ev = msgspec.structs.replace(ev, creator_id=f"c{offset}")
        d = decide(ev, {}, None, POLICY, decided_at, None, ts)  # by the old version
        rec = decision_record(ev, d, POLICY.version, decided_at, Source("live", 0, offset),
                              record_ts=ts)  # fmt: skip
        body, digest = seal(rec, head)
        return Row(0, offset, json.loads(body)), digest

    first, head = row(0, T0 - 1, T0 - 200, GENESIS)  # decided before any activation: unchecked
    wrong, head = row(1, T0 + 5, T0 + 10, head)  # at T0 the new version was in force
    right, _ = row(2, T0 - 1, T0 + 10, head)
    inputs = ReplayInputs("decisions", "actions", {0: [first, wrong, right]}, {0: True}, {},
                          {POLICY.version: POLICY, new.version: new}, [], CertHistory([]), 0,
                          book=book)  # fmt: skip
    report = Verifier(inputs, 0, T0 + 100, 1000, progress=False).run()
    assert [(f.offset, "version in force" in f.detail) for f in report.mismatches] == [(1, True)]
    assert report.matched == 2
