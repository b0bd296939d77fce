"""Scheduled expiry checks: valid, deterministic event ids; a schedule that costs what is due."""

import pytest

from pipeline.domain.events import ExpiryDue, decode_event
from pipeline.domain.expiries import Expiry
from pipeline.engine.expiries import expiry_event

AWKWARD_STREAM_IDS = ["room/1", "直播间1", "room 1", "s" * 256, "a:b", "x\ty\n", "s1"]


@pytest.mark.parametrize("stream_id", AWKWARD_STREAM_IDS)
def test_an_expiry_check_for_any_stream_id_decodes_as_a_valid_event(stream_id):
    event_id, value = expiry_event("c1", Expiry("health", stream_id, 1_900_000_000_000))
    event = decode_event("expiries", b"c1", value)  # raises InvalidEvent (schema) if not
    assert isinstance(event, ExpiryDue)
    assert event.event_id == event_id and event.stream_id == stream_id
    assert event.ts == 1_900_000_000_000 and event.domain == "health"


def test_expiry_check_ids_are_deterministic_and_differ_by_domain_time_and_stream():
    e = Expiry("health", "room/1", 1_900_000_000_000)
    assert expiry_event("c1", e)[0] == expiry_event("c1", e)[0]
    others = [
        Expiry("finance", "room/1", 1_900_000_000_000),
        Expiry("health", "room/1", 1_900_000_000_001),
        Expiry("health", "room/2", 1_900_000_000_000),
        Expiry("health", "room 1", 1_900_000_000_000),
        # Long ids that differ only past the 128th character must not collide.
        Expiry("health", "s" * 200 + "a", 1_900_000_000_000),
        Expiry("health", "s" * 200 + "b", 1_900_000_000_000),
    ]
    ids = {expiry_event("c1", x)[0] for x in [e, *others]}
    assert len(ids) == 7
