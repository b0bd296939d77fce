"""The simulator's traffic covers the three shipped platforms (CONTRACT §11), one per creator."""

from pipeline.domain.policy import load_policy
from pipeline.ops.simulate import PLATFORMS, Traffic
from tests.unit.domain.builders import POLICY_TEXT


def test_traffic_of_every_shipped_platform_and_one_platform_per_creator():
    traffic = Traffic(30, "r1", seed=3)
    seen: dict[str, set[str]] = {}
    for i in range(600):
        for _, creator, body in traffic.next_events(1_800_000_000_000 + i):
            seen.setdefault(creator, set()).add(str(body.get("platform")))
    assert set().union(*seen.values()) == set(PLATFORMS)
    assert all(len(platforms) == 1 for platforms in seen.values())
    assert set(PLATFORMS) <= set(load_policy(POLICY_TEXT).platforms)
