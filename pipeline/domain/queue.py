"""Review and appeal items as written to `enforcement.queue` (CONTRACT §9), and the
decision's rejection (a verdict naming something the creator never had)."""

from __future__ import annotations

from typing import Final

import msgspec

from pipeline.domain.state import AppealItem, ReviewItem


def queue_key(creator_id: str, kind: str, item_id: str) -> str:
    """The item's key on `enforcement.queue` (CONTRACT §12): ids are unique per creator
    only, so two creators' `appeal-1`, or an appeal and a review of one id, never collide."""
    return f"{creator_id}:{kind}:{item_id}"


class QueueItem(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """One item of the compacted queue topic; keyed by `creator_id:kind:id`. A closed
    item carries everything the open one did, so the topic's latest record is the item."""

    kind: str  # review | appeal
    creator_id: str
    platform: str
    rule_id: str
    opened_at: int
    status: str  # open | closed
    review_id: str | None = None
    appeal_id: str | None = None
    action_id: str | None = None  # appeal: the appealed action
    domain: str | None = None
    stream_id: str | None = None
    reason: str | None = None
    evidence: tuple[str, ...] | None = None
    statement: str | None = None
    verdict: str | None = None
    reviewer_id: str | None = None
    note: str | None = None
    closed_at: int | None = None

    @property
    def item_id(self) -> str:
        return self.review_id or self.appeal_id or ""

    @property
    def key(self) -> str:
        return queue_key(self.creator_id, self.kind, self.item_id)


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """Why decide() refused an event: the processor makes it a dead letter with `code`."""

    code: str
    detail: str


_ENCODER: Final = msgspec.json.Encoder()


def encode_item(item: QueueItem) -> bytes:
    return _ENCODER.encode(item)


# How an item was closed: (verdict, reviewer_id, note, closed_at); no verdict and no
# reviewer when the creator's state had to forget it (over its cap of open items).
Closing = tuple[str | None, str | None, str | None, int]
OVER_CAP: Final = "closed without a verdict: the creator has more open items than the policy keeps"


def review_item(
    item: ReviewItem,
    creator_id: str,
    platform: str,
    closed: Closing | None,
) -> QueueItem:
    """The queue record of a review item; `closed` = (verdict, reviewer_id, note, closed_at)."""
    verdict, reviewer, note, closed_at = closed or (None, None, None, None)
    return QueueItem(
        kind="review", review_id=item.review_id, creator_id=creator_id, platform=platform,
        rule_id=item.rule_id, domain=item.domain, stream_id=item.stream_id, reason=item.reason,
        evidence=item.evidence, opened_at=item.opened_at,
        status="open" if closed is None else "closed",
        verdict=verdict, reviewer_id=reviewer, note=note, closed_at=closed_at,
    )  # fmt: skip


def appeal_item(
    item: AppealItem,
    creator_id: str,
    platform: str,
    closed: Closing | None,
) -> QueueItem:
    verdict, reviewer, note, closed_at = closed or (None, None, None, None)
    return QueueItem(
        kind="appeal", appeal_id=item.appeal_id, action_id=item.action_id,
        creator_id=creator_id, platform=platform, rule_id=item.rule_id,
        statement=item.statement, opened_at=item.opened_at,
        status="open" if closed is None else "closed",
        verdict=verdict, reviewer_id=reviewer, note=note, closed_at=closed_at,
    )  # fmt: skip
