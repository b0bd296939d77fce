"""The creator's platform (CONTRACT §11): which platform decides an event, the
`platform_mismatch` refusal, and the migration of a state written before v3."""

from __future__ import annotations

from typing import Final

import msgspec

from pipeline.domain.events import Event, PolicySweep
from pipeline.domain.platforms import DEFAULT
from pipeline.domain.policy import Policy
from pipeline.domain.queue import Rejection
from pipeline.domain.state import CreatorState

MISMATCH: Final = "platform_mismatch"


class Migration(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A pre-v3 state taking its platform: recorded in the decision that did it."""

    platform: str
    credit_max_before: int
    credit_max_after: int
    credit_before: int  # the stored credit (as of the last deduction), before and after
    credit_after: int


def creator_platform(
    event: Event, state: CreatorState | None
) -> tuple[str, str | None, Rejection | None]:
    """(the platform that decides `event`, the platform it names for the creator, a refusal).

    The creator's platform (kept in its state) decides, else the event's, else `default`.
    A `policy_sweep` names no platform for the creator (a sweep of another platform is
    decided `allow`, never a mismatch), nor does `default` for a creator without one (it is
    the base, not a platform: a console verdict copies it from a queue item of such a
    creator); any other event naming another platform than the creator's is refused
    (`platform_mismatch`)."""
    known = state.platform if state is not None else None
    named = None if isinstance(event, PolicySweep) else event.platform
    if known is None:
        return named or DEFAULT, None if named == DEFAULT else named, None
    if named is not None and named != known:
        detail = (
            f"the event names platform {named!r}, but creator {event.creator_id!r} belongs to "
            f"platform {known!r} (its first decided event's); a creator has one platform"
        )
        return known, named, Rejection(MISMATCH, detail)
    return known, named, None


def migrate(state: CreatorState, base: Policy, policy: Policy, platform: str) -> Migration | None:
    """A state without a platform (written before v3, or whose events named none so far)
    takes `platform` (whose merged policy is `policy`); its credit, on the base's scheme
    until now, is rescaled in proportion to the new maximum (rounded down)."""
    if state.platform is not None:
        return None
    state.platform = platform
    before, old_max, new_max = state.credit, base.credit.max, policy.credit.max
    if new_max != old_max:
        state.credit = min(new_max, before * new_max // old_max)
    return Migration(
        platform=platform, credit_max_before=old_max, credit_max_after=new_max,
        credit_before=before, credit_after=state.credit,
    )  # fmt: skip
