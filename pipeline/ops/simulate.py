"""Simulated platform traffic: many creators, some certified, some not, some medical personnel;
streams starting and ending, product links on every surface, user/inspection/machine reports;
and the people in the loop: review verdicts, appeals and their verdicts (`People`).

The model is deterministic for a seed. `Traffic.next_events(now)` returns the next input
events as (topic kind, creator_id, JSON dict); the CLI paces and produces them.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from pipeline.adapters.settings import Settings
from pipeline.domain.signing import SIGNED_TYPES, sign

REGULATED = {
    "health": ["health", "medical"],
    "finance": ["finance", "investment", "insurance"],
    "law": ["law", "legal"],
    "education": ["education"],
}
PLAIN = ["gaming", "lifestyle", "music", "food", "travel", "sports", "beauty", "chat"]
SUSPICIOUS_TITLES = {
    "health": ["老中医教你养生偏方", "Doctor explains a cure for back pain"],
    "finance": ["今天带大家炒股荐股", "Crypto trading tips live"],
    "law": ["律师在线解答离婚官司", "Ask a lawyer: divorce questions"],
    "education": ["考研冲刺课程", "Exam tutoring live"],
}
PLAIN_TITLES = ["Chill evening stream", "今天一起打游戏", "Cooking dinner", "Morning run"]
PROFESSIONS = {"health": "physician", "finance": "financial_advisor", "law": "lawyer",
               "education": "teacher"}  # fmt: skip
PRODUCTS = {
    "health": ["drug", "medical_device", "health_supplement"],
    "finance": ["financial_product", "insurance"],
    "law": ["legal_service"],
    "education": ["course"],
    None: ["general", "general", "health_supplement", "drug"],
}
SURFACES = ["live", "short_video", "showcase"]
# CONTRACT §11: traffic of the three shipped platforms, each creator on one (round robin).
PLATFORMS = ("wechat-channels", "douyin", "kuaishou")
REASONS = ["unqualified_professional_content", "false_advertising", "medical_goods"]
# Actions an appeal cannot name (CONTRACT §9): reviews and warnings, and the lifts.
APPEAL_NEVER = frozenset({"warn", "flag_for_review", "lift_ban", "lift_recommendation_limit",
                          "restore_commerce", "restore_credit"})  # fmt: skip


@dataclass
class Creator:
    creator_id: str
    domain: str | None  # the regulated field they broadcast in, if any
    certified: bool
    suspicious: bool
    live: str | None = None  # current stream id
    links: list[str] = field(default_factory=list)
    seq: int = 0
    platform: str = PLATFORMS[0]


@dataclass
class Grant:
    creator_id: str
    domain: str
    profession: str


class Traffic:
    def __init__(self, creators: int, run: str, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.run = run
        self.creators: list[Creator] = []
        for i in range(creators):
            roll = self.rng.random()
            domain = self.rng.choice(list(REGULATED)) if roll < 0.45 else None
            certified = domain is not None and roll < 0.30
            suspicious = domain is None and self.rng.random() < 0.15
            self.creators.append(Creator(f"sim-{run}-{i:05d}", domain, certified, suspicious,
                                         platform=PLATFORMS[i % len(PLATFORMS)]))  # fmt: skip
        self.counter = 0
        self.reporters = 0

    def grants(self) -> list[Grant]:
        return [Grant(c.creator_id, c.domain, PROFESSIONS[c.domain])
                for c in self.creators if c.certified and c.domain]  # fmt: skip

    def _event(self, c: Creator, type_: str, now: int, **fields: object) -> dict[str, object]:
        self.counter += 1
        return {"event_id": f"{self.run}-{self.counter}", "type": type_, "ts": now,
                "creator_id": c.creator_id, "platform": c.platform, **fields}  # fmt: skip

    def next_events(self, now: int) -> list[tuple[str, str, dict[str, object]]]:
        c = self.rng.choice(self.creators)
        if c.live is None:
            return [("live", c.creator_id, self._start(c, now))]
        roll = self.rng.random()
        if roll < 0.35:
            return [("commerce", c.creator_id, self._link(c, now))]
        if roll < 0.45 and c.links:
            link = c.links.pop()
            return [("commerce", c.creator_id,
                     self._event(c, "product_unlinked", now, link_id=link))]  # fmt: skip
        if roll < 0.60:
            sid, c.live = c.live, None
            return [("live", c.creator_id, self._event(c, "stream_ended", now, stream_id=sid))]
        if roll < 0.65:
            return [("live", c.creator_id, self._event(
                c, "stream_updated", now, stream_id=c.live, title=self._title(c)))]  # fmt: skip
        return [("reports", c.creator_id, r) for r in self._reports(c, now)]

    def bulk(self, count: int, now: int) -> list[tuple[str, str, dict[str, object]]]:
        """The next `count` events of the model, all at event time `now` (benchmark loads)."""
        out: list[tuple[str, str, dict[str, object]]] = []
        while len(out) < count:
            out.extend(self.next_events(now))
        del out[count:]
        return out

    def _title(self, c: Creator) -> str:
        if c.suspicious:
            return self.rng.choice(SUSPICIOUS_TITLES[self.rng.choice(list(SUSPICIOUS_TITLES))])
        return self.rng.choice(PLAIN_TITLES)

    def _start(self, c: Creator, now: int) -> dict[str, object]:
        c.seq += 1
        c.live = f"{c.creator_id}-s{c.seq}"
        category = self.rng.choice(REGULATED[c.domain]) if c.domain else self.rng.choice(PLAIN)
        return self._event(c, "stream_started", now, stream_id=c.live, category=category,
                           title=self._title(c))  # fmt: skip

    def _link(self, c: Creator, now: int) -> dict[str, object]:
        c.seq += 1
        link = f"{c.creator_id}-l{c.seq}"
        c.links.append(link)
        surface = self.rng.choice(SURFACES)
        fields: dict[str, object] = {
            "link_id": link, "product_id": f"p{self.rng.randrange(10_000)}",
            "surface": surface, "product_category": self.rng.choice(PRODUCTS[c.domain]),
        }  # fmt: skip
        if surface == "live":
            fields["stream_id"] = c.live
        elif surface == "short_video":
            fields["video_id"] = f"{c.creator_id}-v{c.seq}"
        return self._event(c, "product_linked", now, **fields)

    def _reports(self, c: Creator, now: int) -> list[dict[str, object]]:
        source = self.rng.choices(["user", "inspection", "machine"], [0.7, 0.15, 0.15])[0]
        domain = c.domain or ("health" if c.suspicious else None)
        base: dict[str, object] = {"stream_id": c.live}
        if domain:
            base["domain"] = domain
        if source == "inspection":
            return [self._event(c, "report", now, source="inspection",
                                reason="unqualified_professional_content", **base)]  # fmt: skip
        if source == "machine":
            conf = round(self.rng.uniform(0.4, 1.0), 2)
            return [self._event(c, "report", now, source="machine", confidence=conf,
                                reason="unqualified_professional_content", **base)]  # fmt: skip
        # Users report in bursts: five or six distinct reporters about one stream.
        out = []
        for _ in range(self.rng.choice([1, 2, 5, 6])):
            self.reporters += 1
            out.append(self._event(c, "report", now, source="user", reason=REASONS[0],
                                   reporter_id=f"u{self.reporters % 5000}", **base))  # fmt: skip
        return out

    def revocable(self) -> Creator | None:
        """A certified creator who is live now: revoking them shows certification.lapsed_live."""
        live = [c for c in self.creators if c.certified and c.live and c.domain]
        return self.rng.choice(live) if live else None


@dataclass(order=True)
class _Due:
    at: int
    seq: int
    creator_id: str = field(compare=False)
    event: dict[str, object] = field(compare=False)


class People:
    """The people in the loop (CONTRACT §9), for demos: reviewers answer a share of the
    flags they see after a delay, confirming or dismissing; creators appeal a share of the
    enforcing decisions; reviewers uphold or overturn those appeals. It learns of flags and
    enforcements from `enforcement.actions` (`observe`) and yields the verdicts when due."""

    def __init__(
        self, run: str, seed: int = 7, delay_ms: int = 20_000, review_share: float = 0.8,
        confirm_share: float = 0.5, appeal_share: float = 0.1, overturn_share: float = 0.4,
        key: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.rng = random.Random(seed + 1)
        # Verdicts are signed (CONTRACT §12) with LIVEGATE_VERDICT_KEY_ID's key.
        self.key = key or Settings().verdict_key
        self.run = run
        self.prefix = f"sim-{run}-"
        self.delay_ms = delay_ms
        self.review_share, self.confirm_share = review_share, confirm_share
        self.appeal_share, self.overturn_share = appeal_share, overturn_share
        self.pending: list[_Due] = []
        self.appealed: dict[tuple[str, ...], None] = {}  # decisions appealed (by evidence)
        self.counter = 0

    def _later(self, now: int, creator_id: str, event: dict[str, object]) -> None:
        self.counter += 1
        delay = int(self.delay_ms * self.rng.uniform(0.5, 1.5))
        heapq.heappush(self.pending, _Due(now + delay, self.counter, creator_id, event))

    def _event(self, creator_id: str, type_: str, **fields: object) -> dict[str, object]:
        self.counter += 1
        # No `platform`: a verdict or appeal is the creator's platform's (CONTRACT §2, §11).
        return {"event_id": f"{self.run}-p{self.counter}", "type": type_, "creator_id": creator_id,
                **fields}  # fmt: skip

    def observe(self, action: dict[str, object], now: int) -> None:
        creator = str(action.get("creator_id", ""))
        name = action.get("action")
        if not creator.startswith(self.prefix):
            return
        if name == "flag_for_review" and self.rng.random() < self.review_share:
            verdict = "confirm" if self.rng.random() < self.confirm_share else "dismiss"
            self._later(now, creator, self._event(
                creator, "review_decided", review_id=action["action_id"], verdict=verdict,
                reviewer_id=f"sim-reviewer-{self.rng.randrange(5)}", role="reviewer"))  # fmt: skip
        elif name not in APPEAL_NEVER:
            evidence = action.get("evidence")
            trigger = (creator, *(map(str, evidence) if isinstance(evidence, list) else ()))
            if trigger in self.appealed or self.rng.random() >= self.appeal_share:
                return
            self.appealed[trigger] = None
            if len(self.appealed) > 10_000:
                del self.appealed[next(iter(self.appealed))]
            appeal = self._event(
                creator, "appeal_filed", appeal_id=f"{self.run}-ap{self.counter}",
                action_id=action["action_id"], statement="I do hold the qualification",
            )  # fmt: skip
            self._later(now, creator, appeal)

    def due(self, now: int) -> list[tuple[str, str, dict[str, object]]]:
        """The verdicts and appeals due by `now`, stamped with it (when the person acted)."""
        out = []
        while self.pending and self.pending[0].at <= now:
            item = heapq.heappop(self.pending)
            event = {**item.event, "ts": now}
            if event["type"] in SIGNED_TYPES:
                event = sign(event, *self.key)
            out.append(("reviews", item.creator_id, event))
            if event["type"] == "appeal_filed":
                verdict = "overturn" if self.rng.random() < self.overturn_share else "uphold"
                decided = self._event(
                    item.creator_id, "appeal_decided", appeal_id=event["appeal_id"],
                    verdict=verdict, reviewer_id=f"sim-reviewer-{self.rng.randrange(5)}",
                    role="senior",
                )  # fmt: skip
                self._later(now, item.creator_id, decided)
        return out
