"""What one decision works on, and the one place that turns a rule's verdict into actions.

Rules decide *whether* they fire and about what; the policy's action lists say *what* they
do. `Context.fire` carries those lists out: it builds the Action records, updates the
working state (restrictions, removed streams, credit) and keeps the contract's promise
that one event never cuts the same stream or removes the same link twice.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import msgspec

from pipeline.domain import credit, notices
from pipeline.domain.actions import Action, action_id, action_subject, is_enforcing
from pipeline.domain.certifications import CertSnapshot, is_qualified, qualified_until
from pipeline.domain.events import Event
from pipeline.domain.expiries import Expiry
from pipeline.domain.lifecycle import ALWAYS, Mode, rule_mode
from pipeline.domain.policy import DURATION_ACTIONS, ActionSpec, Policy, RuleSpec, Severity
from pipeline.domain.queue import OVER_CAP, QueueItem, Rejection, review_item
from pipeline.domain.state import (
    PERMANENT,
    CreatorState,
    ReviewItem,
    Until,
    oldest,
    restrict,
    working_copy,
)

_VERBS: Final = {
    "cut_off_stream": "The live stream is cut off",
    "limit_recommendation": "Recommendation of the creator's content is limited",
    "remove_product_link": "The product link is removed",
    "revoke_commerce": "Selling permission is revoked",
    "deduct_credit": "Credit points are deducted",
    "ban_account": "The account is banned",
    "warn": "The creator is warned",
    "flag_for_review": "The case is flagged for human review",
}
Duration = int | msgspec.UnsetType | None


class ShadowRule(msgspec.Struct, frozen=True, gc=False):
    """What a rule in `shadow` for this event would have done (CONTRACT §10)."""

    rule_id: str
    actions: list[Action]


class Subject(NamedTuple):
    """What a rule fires about."""

    stream_id: str | None
    link_id: str | None
    product_id: str | None
    domain: str | None


class CapCheck(msgspec.Struct, frozen=True, gc=False):
    """A rule with a `daily_cap` that would enforce: the count of its (rule, platform, UTC
    day) the decision saw, or None when the caller has not counted it yet."""

    rule_id: str
    count: int | None
    cap: int


class Context:
    __slots__ = (
        "actions",
        "cap_counts",
        "capped",
        "certs",
        "cut",
        "deduct_rule",
        "domain",
        "event",
        "evidence",
        "exempt",
        "expiries",
        "link",
        "now_ms",
        "platform",
        "policy",
        "queue",
        "record_ts",
        "rejection",
        "removed",
        "shadow",
        "state",
        "taken",
        "told",
        "ts",
    )  # fmt: skip

    def __init__(
        self, event: Event, certs: CertSnapshot, state: CreatorState, policy: Policy, now_ms: int,
        record_ts: int | None = None, cap_counts: dict[str, int] | None = None,
        platform: str | None = None,
    ) -> None:  # fmt: skip
        self.event = event
        # v3 (CONTRACT §11): the creator's platform (the policy is its merged policy), and
        # the domain a rule fired about (the notices' {domain}).
        self.platform = platform or policy.platform
        self.domain: str | None = None
        self.link: str | None = None  # the link a rule fired about (every action's notice)
        # action_id -> what its notice names beyond the action's own fields (its domain, the
        # link, a threshold's credit): kept with what it imposed, for the creator view.
        self.told: dict[str, dict[str, Any]] = {}
        self.now_ms = now_ms
        self.ts = event.ts
        # When the input record reached the broker; the event's own time if unknown.
        self.record_ts = event.ts if record_ts is None or record_ts < 0 else record_ts
        self.certs = certs
        self.state = state
        self.policy = policy
        self.actions: list[Action] = []
        # The event ids that led to an action: the trigger, or more where a rule counts
        # several events (the reports of a threshold).
        self.evidence: tuple[str, ...] = (event.event_id,)
        self.cut: set[str] = set()
        self.removed: set[str] = set()
        self.expiries: list[Expiry] = []
        # v2: review and appeal items opened or closed, credit this decision took (and for
        # which rule), and a rejection (the event names something the creator never had).
        self.queue: list[QueueItem] = []
        self.taken = 0
        self.deduct_rule: str | None = None
        self.rejection: Rejection | None = None
        # v3 (CONTRACT §10): shadowed rules' would-be actions; the daily caps' counts given
        # (rule_id -> the count its set holds with this event) and the caps checked.
        self.shadow: list[ShadowRule] = []
        self.cap_counts = cap_counts or {}
        self.capped: list[CapCheck] = []
        self.exempt: dict[str | None, int] | None = None

    def mode(self, rule: RuleSpec) -> Mode:
        """How `rule` acts for this creator at this event's time (lifecycle, exemptions)."""
        exemptions = self.state.exemptions
        if rule.life is ALWAYS and not exemptions:
            return "enforce"
        if self.exempt is None:
            self.exempt = {}
            for e in exemptions.values():
                if e.until > self.exempt.get(e.rule_id, -1) and e.granted_ts <= self.ts:
                    self.exempt[e.rule_id] = e.until
        return rule_mode(rule.life, rule.rule_id, self.event.creator_id, self.ts, self.exempt)

    def reject(self, code: str, detail: str) -> None:
        self.rejection = Rejection(code, detail)

    def qualified(self, domain: str) -> bool:
        """Certifications are evaluated at the event's time, not the decision's."""
        return is_qualified(self.certs, domain, self.ts)

    def watch_expiry(self, domain: str, stream_id: str | None) -> None:
        until = qualified_until(self.certs, domain, self.ts)
        if until is not None:
            self.expiries.append(Expiry(domain, stream_id, until))

    def end_stream(self, stream_id: str) -> None:
        if self.state.streams.pop(stream_id, None) is not None:
            self.state.ended[stream_id] = self.ts

    def fire(
        self,
        rule: RuleSpec,
        specs: tuple[ActionSpec, ...],
        why: str,
        *,
        stream_id: str | None = None,
        link_id: str | None = None,
        product_id: str | None = None,
        domain: str | None = None,
    ) -> None:
        """Carry out a rule's actions, as its mode for this event says (CONTRACT §10): `off`
        does nothing, `shadow` records what it would have done and changes nothing."""
        mode = self.mode(rule)
        if mode == "off":
            return
        where = Subject(stream_id, link_id, product_id, domain)
        if mode == "shadow":
            self._shadowed(rule, specs, why, where)
            return
        cap = rule.life.daily_cap
        if cap is not None and any(is_enforcing(s.name) for s in specs):
            before = len(self.actions)
            self._fire(rule, specs, why, where)
            if any(is_enforcing(a.action) for a in self.actions[before:]):
                self.capped.append(CapCheck(rule.rule_id, self.cap_counts.get(rule.rule_id), cap))
            return
        self._fire(rule, specs, why, where)

    def _shadowed(
        self, rule: RuleSpec, specs: tuple[ActionSpec, ...], why: str, where: Subject
    ) -> None:
        """Fire on a copy of everything a firing changes, keep the actions, drop the copy."""
        saved = (self.state, self.actions, self.cut, self.removed, self.expiries, self.queue,
                 self.taken, self.deduct_rule)  # fmt: skip
        self.state = working_copy(self.state)
        self.actions, self.cut, self.removed = [], set(self.cut), set(self.removed)
        self.expiries, self.queue = [], []
        try:
            self._fire(rule, specs, why, where)
            would = self.actions
        finally:
            (self.state, self.actions, self.cut, self.removed, self.expiries, self.queue,
             self.taken, self.deduct_rule) = saved  # fmt: skip
        if not would:
            return
        if self.shadow and self.shadow[-1].rule_id == rule.rule_id:
            self.shadow[-1].actions.extend(would)
        else:
            self.shadow.append(ShadowRule(rule.rule_id, would))

    def _fire(
        self, rule: RuleSpec, specs: tuple[ActionSpec, ...], why: str, where: Subject
    ) -> None:
        """A cut-off happens only if the stream is live.

        A `flag_for_review` opens a review item about `domain`; it remembers the
        recommendation limit the same rule imposed, which a dismissal lifts."""
        stream_id, link_id, product_id, domain = where
        limit: Action | None = None
        flag: Action | None = None
        self.domain, self.link = domain or rule.domain, link_id
        for spec in specs:
            name = spec.name
            if name == "cut_off_stream":
                if (
                    stream_id is None
                    or stream_id in self.cut
                    or stream_id not in self.state.streams
                ):
                    continue
                self.cut.add(stream_id)
                self.end_stream(stream_id)
            elif name == "remove_product_link":
                if link_id is None or link_id in self.removed:
                    continue
                self.removed.add(link_id)
            elif name == "deduct_credit":
                self._deduct(rule, spec.severity or rule.severity, why, stream_id)
                continue
            duration_s, until, tied = self._restrict(spec, rule.domain)
            action = self.add(
                rule.rule_id, name, rule.severity, f"{_VERBS[name]}: {why}.",
                stream_id=stream_id, link_id=link_id if name == "remove_product_link" else None,
                product_id=product_id if name == "remove_product_link" else None,
                surfaces=spec.surfaces if name == "revoke_commerce" else None,
                duration_s=duration_s, until=until, while_qualified=tied,
            )  # fmt: skip
            if name == "limit_recommendation":
                limit = action
            elif name == "flag_for_review":
                flag = action
        if flag is not None:
            self._open_review(flag, domain, limit)

    def _open_review(self, flag: Action, domain: str | None, limit: Action | None) -> None:
        limit_until: Until | None = None
        if limit is not None:
            limit_until = limit.until if isinstance(limit.until, int) else PERMANENT
        item = ReviewItem(
            review_id=flag.action_id, rule_id=flag.rule_id, trigger=self.event.event_id,
            opened_at=self.ts, reason=flag.reason, evidence=flag.evidence, domain=domain,
            stream_id=flag.stream_id, limit_id=limit.action_id if limit else None,
            limit_until=limit_until,
        )  # fmt: skip
        reviews = self.state.reviews
        reviews[item.review_id] = item
        ev = self.event
        while len(reviews) > self.policy.max_open_reviews:  # bounded: the oldest goes
            old = reviews.pop(oldest(reviews, lambda r: r.opened_at))
            self.state.closed[old.review_id] = self.ts
            closing = (None, None, OVER_CAP, self.ts)
            self.queue.append(review_item(old, ev.creator_id, self.platform, closing))
        self.queue.append(review_item(item, ev.creator_id, self.platform, None))

    def _restrict(
        self, spec: ActionSpec, domain: str | None
    ) -> tuple[Duration, Duration, str | None]:
        """Record a duration action's restriction: (duration_s, until, while_qualified)."""
        if spec.name not in DURATION_ACTIONS:
            return msgspec.UNSET, msgspec.UNSET, None  # takes no duration: fields left out
        restrict(self.state, spec, self.ts, domain)
        if spec.duration_ms is None:
            tied = domain if spec.while_qualified and spec.name == "revoke_commerce" else None
            if tied is not None:
                self.watch_expiry(tied, None)  # its end is the qualification's end
            return None, None, tied
        return spec.duration_ms // 1000, self.ts + spec.duration_ms, None

    def _deduct(self, rule: RuleSpec, severity: Severity, why: str, stream_id: str | None) -> None:
        d = credit.deduct(self.state, rule.rule_id, severity, self.ts, self.policy)
        self.taken += d.credit_before - d.credit_after
        self.deduct_rule = rule.rule_id
        self.add(
            rule.rule_id, "deduct_credit", d.severity,
            f"Credit is reduced by {d.points} points"
            f" ({d.credit_before} to {d.credit_after}): {why}.",
            stream_id=stream_id, points=d.points, credit_after=d.credit_after,
        )  # fmt: skip
        for threshold in d.crossed:
            spec = threshold.action
            duration_s, until, _ = self._restrict(spec, None)
            self.add(
                f"credit.{spec.name}", spec.name, d.severity,
                f"{_VERBS[spec.name]}: credit fell to {d.credit_after}, at or below "
                f"{threshold.at_or_below}.",
                surfaces=spec.surfaces if spec.name == "revoke_commerce" else None,
                duration_s=duration_s, until=until, told_credit=d.credit_after,
            )  # fmt: skip

    def add(
        self,
        rule_id: str,
        name: str,
        severity: str,
        reason: str,
        *,
        stream_id: str | None = None,
        link_id: str | None = None,
        product_id: str | None = None,
        surfaces: tuple[str, ...] | None = None,
        duration_s: Duration = msgspec.UNSET,
        until: Duration = msgspec.UNSET,
        while_qualified: str | None = None,
        points: int | None = None,
        credit_after: int | None = None,
        lifts: tuple[str, ...] | None = None,
        told_credit: int | None = None,
    ) -> Action:
        """One action; `told_credit`: the credit its notice names where the action itself
        carries none (a threshold's action: the credit the deduction left)."""
        ev = self.event
        subject = action_subject(ev.creator_id, stream_id, link_id)
        action = Action(
            action_id=action_id(rule_id, name, ev.creator_id, subject, ev.event_id),
            action=name,
            creator_id=ev.creator_id,
            platform=self.platform,
            rule_id=rule_id,
            severity=severity,
            reason=reason,
            evidence=self.evidence,
            policy_version=self.policy.version,
            event_ts=ev.ts,
            decided_at=self.now_ms,
            stream_id=stream_id,
            link_id=link_id,
            product_id=product_id,
            surfaces=surfaces,
            points=points,
            credit_after=credit_after,
            duration_s=duration_s,
            until=until,
            while_qualified=while_qualified,
            lifts=lifts,
        )
        told: dict[str, Any] = {}
        domain = while_qualified or self.domain
        if domain is not None:
            told["domain"] = domain
        if link_id is None and self.link is not None:
            told["link_id"] = self.link
        if told_credit is not None:
            told["credit_after"] = told_credit
        if told:
            self.told[action.action_id] = told
        if self.policy.notices is not None:
            values = {**msgspec.to_builtins(action), **told}
            notice = notices.render(
                self.policy.notices, rule_id, name, values, self.policy.appeal_window_ms
            )
            action = msgspec.structs.replace(action, notice=notice)
        self.actions.append(action)
        return action
