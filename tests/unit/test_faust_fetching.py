"""The bulk consumer's acks: only decided records of the current generation, while the flow
is on, count toward the committed offset (pipeline/adapters/faust/fetching.py)."""

import faust
import pytest
from faust.types import TP

from pipeline.adapters.faust.fetching import BulkConsumer, use_adaptive_fetch
from pipeline.adapters.records import Record

# One app for the module, kept alive: Faust's app makes event loops and socket pairs of its
# own, which this test never runs (collected, they would warn).
APP = faust.App("lg-fetching-test", broker="kafka://127.0.0.1:1")  # never connects
use_adaptive_fetch(APP, bulk=True)
KEEP: list[BulkConsumer] = []


@pytest.fixture
def consumer() -> BulkConsumer:
    APP.consumer_generation_id = 7
    c = APP._new_consumer()
    assert isinstance(c, BulkConsumer)
    KEEP.append(c)
    return c


def records(offsets, generation=7, topic="live.streams", partition=0):
    return [Record(topic, partition, o, b"k", b"v", 0, "live", generation) for o in offsets]


TP0 = TP("live.streams", 0)


def test_decided_records_of_the_generation_are_committed_up_to_the_first_gap(consumer):
    consumer._committed_offset[TP0] = 10
    assert consumer.ack_records(records([10, 11, 12, 14])) == 4
    assert consumer._new_offset(TP0) == 13  # 13 is not decided: nothing past it


def test_records_of_an_older_generation_are_not_acked(consumer):
    # Fetched before a rebalance, decided after: the seek to the committed offset fetches
    # them again, and acking them now could commit past records nobody decided.
    consumer._committed_offset[TP0] = 10
    assert consumer.ack_records(records([10, 11], generation=6)) == 0
    assert consumer._new_offset(TP0) is None


def test_nothing_is_acked_while_the_flow_is_stopped_for_a_rebalance(consumer):
    # From the revocation to the seek that ends recovery the committed offset is unknown:
    # an ack then would be committed from wherever it starts.
    consumer.stop_flow()
    assert consumer.ack_records(records([40, 41])) == 0
    consumer.resume_flow()
    assert consumer.ack_records(records([40, 41])) == 2


def test_an_ack_below_the_committed_offset_or_twice_counts_once(consumer):
    consumer._committed_offset[TP0] = 10
    assert consumer.ack_records(records([9, 10, 10])) == 1


def test_faust_own_acks_of_input_topic_messages_are_refused(consumer):
    consumer.hand_off({"live.streams": "live"}, sink=None)  # type: ignore[arg-type]

    class Message:
        topic, tp, offset, acked = "live.streams", TP0, 3, False

    assert consumer.ack(Message()) is False
    assert consumer._acked[TP0] == []
