"""Simulated platform traffic: many creators, some certified, some not, some medical personnel;
streams starting and ending, product links on every surface, user/inspection/machine reports.

The model is deterministic for a seed. `Traffic.next_events(now)` returns the next input
events as (topic kind, creator_id, JSON dict); the CLI paces and produces them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

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
REASONS = ["unqualified_professional_content", "false_advertising", "medical_goods"]


@dataclass
class Creator:
    creator_id: str
    domain: str | None  # the regulated field they broadcast in, if any
    certified: bool
    suspicious: bool
    live: str | None = None  # current stream id
    links: list[str] = field(default_factory=list)
    seq: int = 0


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
            self.creators.append(Creator(f"sim-{run}-{i:05d}", domain, certified, suspicious))
        self.counter = 0
        self.reporters = 0

    def grants(self) -> list[Grant]:
        return [Grant(c.creator_id, c.domain, PROFESSIONS[c.domain])
                for c in self.creators if c.certified and c.domain]  # fmt: skip

    def _event(self, c: Creator, type_: str, now: int, **fields: object) -> dict[str, object]:
        self.counter += 1
        return {"event_id": f"{self.run}-{self.counter}", "type": type_, "ts": now,
                "creator_id": c.creator_id, "platform": "sim", **fields}  # fmt: skip

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
