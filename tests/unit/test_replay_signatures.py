"""`replay verify` checks a signed event's signature again from the event as recorded
(CONTRACT §12); one signed with a key the replay no longer holds is UNVERIFIED, not a
mismatch, and is re-decided as recorded."""

from __future__ import annotations

import json
from typing import Any

from pipeline.domain.signing import sign
from pipeline.replay.log import ReplayInputs, Row
from pipeline.replay.verify import Verifier

EVENT = {"event_id": "v1", "type": "review_decided", "ts": 5, "creator_id": "c1",
         "review_id": "r1", "verdict": "confirm", "reviewer_id": "rev-1",
         "role": "reviewer"}  # fmt: skip


def verifier(keys: dict[str, str]) -> Verifier:
    inputs = ReplayInputs("d", "a", {}, {}, {}, {}, [], None, 0, verdict_keys=keys)  # type: ignore[arg-type]
    return Verifier(inputs, 0, 10, 0, progress=False)


def record(signed: dict[str, Any]) -> dict[str, Any]:
    decoded = {k: v for k, v in signed.items() if k not in ("signature", "role")}
    return {"event_type": "review_decided", "event": decoded, "signed": json.dumps(signed),
            "creator_id": "c1", "event_id": "v1"}  # fmt: skip


def test_a_signature_is_checked_again_and_a_retired_key_is_unverified():
    signed = sign(EVENT, "old", "s3cret")
    v = verifier({"old": "s3cret"})
    assert v._signature(Row(0, 7, None), record(signed)) is None
    assert v.report.unverified == []
    retired = verifier({"new": "other"})
    assert retired._signature(Row(0, 7, None), record(signed)) is None
    (finding,) = retired.report.unverified
    assert finding.kind == "unverified" and finding.offset == 7 and "'old'" in finding.detail
    forged = {**signed, "verdict": "dismiss"}
    assert "does not verify" in str(v._signature(Row(0, 8, None), record(forged)))
