"""The declarative policy (config/policy.yaml): strict loading into frozen lookup tables.

Loading is slow and careful (every key checked, errors name their line); the result is
built for the per-event path: plain dict lookups and one precompiled pattern per domain.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final, Literal

import msgspec

from pipeline.domain import platforms as overlays
from pipeline.domain.events import DOMAINS, SURFACES
from pipeline.domain.lifecycle import ALWAYS, LIFECYCLE_KEYS, Lifecycle, load_lifecycle
from pipeline.domain.notices import Catalogue, parse_catalogue
from pipeline.domain.yamlcheck import Path, Validator, kind_of, parse

Severity = Literal["minor", "serious", "severe"]
SEVERITIES: Final[tuple[Severity, ...]] = ("minor", "serious", "severe")
ACTIONS: Final = (
    "cut_off_stream",
    "limit_recommendation",
    "remove_product_link",
    "revoke_commerce",
    "deduct_credit",
    "ban_account",
    "warn",
    "flag_for_review",
)
DURATION_ACTIONS: Final = frozenset({"limit_recommendation", "revoke_commerce", "ban_account"})
RULE_IDS: Final = (
    "live.unqualified",
    "live.suspected",
    "commerce.medical_personnel",
    "commerce.unqualified_product",
    "reports.threshold",
    "reports.inspection",
    "reports.machine",
    "certification.lapsed_live",
    "restriction.in_force",
)
# The file's keys, by section: the loader below and the JSON Schema (policyschema.py) both
# read these, so the schema editors use cannot drift from what loads.
TOP_KEYS: Final = (
    "categories",
    "title_keywords",
    "product_categories",
    "professional_reasons",
    "credit",
    "rules",
    "state",
)
TOP_OPTIONAL: Final = ("appeals", "review", "exemptions")  # v2, v3: optional
# v3 (CONTRACT §11): optional in the loader, so the policy history still loads; `livegate
# policy check` refuses a new file without `notices` (cli/policy.py).
V3_OPTIONAL: Final = ("platforms", "notices")
STATE_KEYS: Final = ("dedup_horizon", "max_decided_ids", "stream_idle_forget")
CREDIT_KEYS: Final = ("start", "max", "deductions", "repeat_window", "recovery", "thresholds")
RECOVERY_KEYS: Final = ("points", "every")
# v3: tiered recovery, a list from the highest `at_or_above` down to 0.
TIER_KEYS: Final = ("at_or_above", "every_days")
TIER_OPTIONAL: Final = ("points",)
THRESHOLD_KEYS: Final = ("at_or_below", "action")
THRESHOLD_OPTIONAL: Final = ("duration", "surfaces")
THRESHOLD_ACTIONS: Final = ("limit_recommendation", "revoke_commerce", "ban_account")
BAND_KEYS: Final = ("min_confidence", "actions")
# v2 (CONTRACT §9): verdicts on reviews and appeals. Optional in a policy file, so a policy
# written before them (the policy history) still loads; the defaults are the contract's.
VERDICT_RULE_IDS: Final = ("review.confirmed", "review.dismissed", "appeal.upheld",
                           "appeal.overturned")  # fmt: skip
_VERDICT_DEFAULTS: Final[dict[str, Any]] = {
    "review.confirmed": {"severity": "serious", "actions": ["cut_off_stream", "deduct_credit",
                                                            "warn"]},
    "review.dismissed": {"severity": "minor"},
    "appeal.upheld": {"severity": "minor"},
    "appeal.overturned": {"severity": "minor"},
}  # fmt: skip
# The caps bound what one creator's state keeps of the loop: about 100 KB at worst with
# every id and text at its maximum length, on top of the rest of the state.
_APPEALS_DEFAULTS: Final[dict[str, Any]] = {"window": "90d", "max_open": 4,
                                            "max_enforcements": 32}  # fmt: skip
# Their ranges, like the state caps': at the maxima, with every id and text at its longest,
# a decision record stays under 256 KB (tests/unit/domain/test_state_caps.py).
LOOP_CAP_RANGES: Final[dict[str, tuple[int, int]]] = {
    "appeals.max_open": (1, 4),
    "appeals.max_enforcements": (1, 32),
    "review.max_open": (1, 32),
    "review.max_closed": (1, 128),
}
_REVIEW_DEFAULTS: Final[dict[str, Any]] = {"sla": "30m", "max_open": 32, "max_closed": 128}
# v3 (CONTRACT §10): how far ahead an exemption's `until` may be, and how many one keeps.
_EXEMPTIONS_DEFAULTS: Final[dict[str, Any]] = {"max_days": 30, "max_active": 16}
EXEMPTION_RANGES: Final[dict[str, tuple[int, int]]] = {"max_days": (1, 366), "max_active": (1, 64)}
_SEP: Final = r"(?<![a-z0-9_])"  # ASCII-only word edges: Chinese letters count as edges
_END: Final = r"(?![a-z0-9_])"


class ActionSpec(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    name: str
    duration_ms: int | None = None  # None: permanent (for the duration actions)
    while_qualified: bool = False  # revoke_commerce lasting while qualified for the rule's domain
    surfaces: tuple[str, ...] = SURFACES
    severity: Severity | None = None  # deduct_credit: overrides the rule's severity


class Band(msgspec.Struct, frozen=True, gc=False):
    min_confidence: float
    actions: tuple[ActionSpec, ...]


class RuleSpec(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    rule_id: str
    severity: Severity
    actions: tuple[ActionSpec, ...] = ()
    actions_if_qualified: tuple[ActionSpec, ...] = ()
    bands: tuple[Band, ...] = ()
    domain: str | None = None
    deduct_from_link: int = 1
    window_ms: int = 0
    distinct_reporters: int = 0
    life: Lifecycle = ALWAYS  # v3 (CONTRACT §10): mode, rollout, expiry, daily cap


class Threshold(msgspec.Struct, frozen=True, gc=False):
    at_or_below: int
    action: ActionSpec


class RecoveryTier(msgspec.Struct, frozen=True, gc=False):
    at_or_above: int  # while credit is at least this
    every_ms: int  # `points` back per this many clean (deduction-free) ms
    points: int = 1


class CreditPolicy(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    start: int
    max: int
    deductions: dict[str, int]
    repeat_window_ms: int
    recovery_points: int  # the lowest tier's (the only one of a flat `recovery:`)
    recovery_every_ms: int
    thresholds: tuple[Threshold, ...]
    # v3 (CONTRACT §11): from the highest `at_or_above` down; the last one at 0.
    recovery_tiers: tuple[RecoveryTier, ...] = ()


class StateCaps(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Bounds on every per-creator collection (policy `state:`), so that no creator's state,
    and no decision record carrying it, can outgrow a Kafka record (issue 12 #1).

    The ranges the loader accepts (`CAP_RANGES`) keep the worst case (every id at its
    longest, every collection full) under 256 KB per decision record; a unit test drives
    that case through decide() at the maxima. At each cap, the oldest entries go first.
    """

    live_streams: int = 8  # more at once: the oldest is dropped, the creator flagged
    ended_streams: int = 32  # ended or cut-off streams remembered (no reopening by an update)
    report_windows: int = 6  # streams with a user-report window
    reporters_per_window: int = 20  # newest distinct reporters kept per window


# cap -> (lowest, highest) accepted; reporters_per_window is also at least the
# reports.threshold rule's distinct_reporters, or the rule could never fire.
CAP_RANGES: Final[dict[str, tuple[int, int]]] = {
    "live_streams": (1, 8),
    "ended_streams": (1, 32),
    "report_windows": (1, 6),
    "reporters_per_window": (1, 20),
}


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    text: str
    source: str
    category_domain: dict[str, str]  # only categories that map to a domain
    title_keywords: dict[str, tuple[str, ...]]  # domain -> lowercased keywords
    title_patterns: tuple[tuple[str, re.Pattern[str]], ...]  # in the file's domain order
    product_domain: dict[str, str]
    professional_reasons: frozenset[str]
    credit: CreditPolicy
    rules: dict[str, RuleSpec]
    dedup_horizon_ms: int
    max_decided_ids: int
    stream_idle_ms: int
    caps: StateCaps = StateCaps()
    # v2 (CONTRACT §7, §9): the appeal window, the review SLA, and how much of the review
    # loop one creator's state keeps (bounded like everything else in it).
    appeal_window_ms: int = 90 * 86_400_000
    review_sla_ms: int = 30 * 60_000
    max_open_appeals: int = 4
    max_enforcements: int = 32
    max_open_reviews: int = 32
    max_closed_items: int = 128
    # v3: exemptions (CONTRACT §10)
    exemption_max_ms: int = 30 * 86_400_000
    max_exemptions: int = 16
    # v3 (CONTRACT §11): the platform this policy is merged for (`default`: the base), the
    # merged policy of every overlay (on the base only; loaded once per version, so the
    # per-event path only looks one up), and the notices catalogue (None: a pre-v3 text).
    platform: str = overlays.DEFAULT
    platforms: dict[str, Policy] = {}
    notices: Catalogue | None = None

    def for_platform(self, platform: str | None) -> Policy:
        """The merged policy of `platform`; the base for an unknown platform or none."""
        if platform is None:
            return self
        return self.platforms.get(platform, self)

    def suspected_domain(self, title: str | None) -> str | None:
        if not title:
            return None
        for domain, pattern in self.title_patterns:
            if pattern.search(title):
                return domain
        return None


def policy_version(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def load_policy(text: str, source: str = "config/policy.yaml") -> Policy:
    """The base policy, carrying the merged policy of every platform overlay (CONTRACT §11)."""
    data, lines = parse(text, source)
    v = Validator(lines, source)
    v.mapping(data, (), required=TOP_KEYS, optional=(*TOP_OPTIONAL, *V3_OPTIONAL))
    base_data = {k: val for k, val in data.items() if k != "platforms"}
    base = _load_document(v, base_data, text, source, overlays.DEFAULT)
    merged: dict[str, Policy] = {}
    for name, overlay in overlays.overlays(v, data.get("platforms", {})).items():
        overlays.check_known(v, name, base_data, overlay)
        pv = overlays.PlatformValidator(overlays.overlay_lines(lines, name), source, name)
        doc = overlays.merge(base_data, overlay)
        merged[name] = _load_document(pv, doc, text, source, name)
    return msgspec.structs.replace(base, platforms=merged) if merged else base


def _load_document(v: Validator, data: Any, text: str, source: str, platform: str) -> Policy:
    top = v.mapping(data, (), required=TOP_KEYS, optional=(*TOP_OPTIONAL, "notices"))
    keywords = _keywords(v, top["title_keywords"])
    state = v.mapping(top["state"], ("state",), required=STATE_KEYS, optional=tuple(CAP_RANGES))
    rules = _rules(v, top["rules"])
    appeals = _section(v, top, "appeals", _APPEALS_DEFAULTS)
    review = _section(v, top, "review", _REVIEW_DEFAULTS)
    exemptions = _section(v, top, "exemptions", _EXEMPTIONS_DEFAULTS)
    credit = _credit(v, top["credit"])
    notices = (
        parse_catalogue(v, top["notices"], notice_rule_ids(credit), also=_ANY_THRESHOLD)
        if "notices" in top
        else None
    )
    return Policy(
        platform=platform,
        notices=notices,
        version=policy_version(text),
        text=text,
        source=source,
        category_domain=_domain_map(v, top["categories"], ("categories",)),
        title_keywords=keywords,
        title_patterns=tuple((d, _pattern(kws)) for d, kws in keywords.items()),
        product_domain=_domain_map(v, top["product_categories"], ("product_categories",)),
        professional_reasons=frozenset(
            v.strings(top["professional_reasons"], ("professional_reasons",))
        ),
        credit=credit,
        rules=rules,
        dedup_horizon_ms=v.duration(state["dedup_horizon"], ("state", "dedup_horizon")),
        max_decided_ids=v.integer(state["max_decided_ids"], ("state", "max_decided_ids"), lo=1),
        stream_idle_ms=v.duration(state["stream_idle_forget"], ("state", "stream_idle_forget")),
        caps=_caps(v, state, rules),
        appeal_window_ms=v.duration(appeals["window"], ("appeals", "window")),
        max_open_appeals=v.integer(
            appeals["max_open"], ("appeals", "max_open"), *LOOP_CAP_RANGES["appeals.max_open"]
        ),
        max_enforcements=v.integer(
            appeals["max_enforcements"],
            ("appeals", "max_enforcements"),
            *LOOP_CAP_RANGES["appeals.max_enforcements"],
        ),
        review_sla_ms=v.duration(review["sla"], ("review", "sla")),
        max_open_reviews=v.integer(
            review["max_open"], ("review", "max_open"), *LOOP_CAP_RANGES["review.max_open"]
        ),
        max_closed_items=v.integer(
            review["max_closed"], ("review", "max_closed"), *LOOP_CAP_RANGES["review.max_closed"]
        ),
        exemption_max_ms=86_400_000
        * v.integer(
            exemptions["max_days"], ("exemptions", "max_days"), *EXEMPTION_RANGES["max_days"]
        ),
        max_exemptions=v.integer(
            exemptions["max_active"],
            ("exemptions", "max_active"),
            *EXEMPTION_RANGES["max_active"],
        ),
    )


def _caps(v: Validator, state: dict[str, Any], rules: dict[str, RuleSpec]) -> StateCaps:
    """The optional caps of `state:` (defaults: StateCaps), each within CAP_RANGES."""
    values: dict[str, int] = {}
    for name, (lo, hi) in CAP_RANGES.items():
        if name in state:
            values[name] = v.integer(state[name], ("state", name), lo=lo, hi=hi)
    caps = StateCaps(**values)
    needed = rules["reports.threshold"].distinct_reporters
    if caps.reporters_per_window < needed:
        v.fail(
            ("state", "reporters_per_window") if "reporters_per_window" in state else ("state",),
            f"reporters_per_window ({caps.reporters_per_window}) is below"
            f" reports.threshold's distinct_reporters ({needed}): the rule could never fire",
        )
    return caps


# --- sections ------------------------------------------------------------------------------


def _section(v: Validator, top: dict[str, Any], name: str, defaults: dict[str, Any]) -> Any:
    """An optional section whose keys are all optional: the file's values over the defaults."""
    given = v.mapping(top[name], (name,), optional=tuple(defaults)) if name in top else {}
    return {**defaults, **given}


def _domain_map(v: Validator, value: Any, path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, domain in v.str_keys(value, path).items():
        if domain is not None:
            out[key] = v.string(domain, (*path, key), DOMAINS)
    return out


def _keywords(v: Validator, value: Any) -> dict[str, tuple[str, ...]]:
    path: Path = ("title_keywords",)
    out: dict[str, tuple[str, ...]] = {}
    for domain, words in v.str_keys(value, path).items():
        v.string(domain, (*path, domain), DOMAINS)
        out[domain] = tuple(w.lower() for w in v.strings(words, (*path, domain)))
    return out


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    latin = sorted((re.escape(w) for w in words if w.isascii()), key=len, reverse=True)
    other = sorted((re.escape(w) for w in words if not w.isascii()), key=len, reverse=True)
    parts = []
    if latin:
        parts.append(f"{_SEP}(?:{'|'.join(latin)}){_END}")
    if other:
        parts.append("|".join(other))
    return re.compile("|".join(parts), re.IGNORECASE)


_ANY_THRESHOLD: Final = tuple(f"credit.{a}" for a in THRESHOLD_ACTIONS)


def notice_rule_ids(credit: CreditPolicy) -> tuple[str, ...]:
    """Every rule id an action can carry: each needs a notice (CONTRACT §11)."""
    added = tuple(f"credit.{t.action.name}" for t in credit.thresholds)
    return (*RULE_IDS, *VERDICT_RULE_IDS, "state.live_stream_cap", *added)


def _credit(v: Validator, value: Any) -> CreditPolicy:
    p: Path = ("credit",)
    c = v.mapping(value, p, required=CREDIT_KEYS)
    top = v.integer(c["max"], (*p, "max"), lo=1)
    deductions = v.mapping(c["deductions"], (*p, "deductions"), required=SEVERITIES)
    tiers = _recovery(v, c["recovery"], (*p, "recovery"), top)
    thresholds = c["thresholds"]
    if not isinstance(thresholds, list):
        v.fail((*p, "thresholds"), f"expected a list, got {kind_of(thresholds)}")
    return CreditPolicy(
        start=v.integer(c["start"], (*p, "start"), lo=0, hi=top),
        max=top,
        deductions={
            s: v.integer(deductions[s], (*p, "deductions", s), lo=0, hi=top) for s in SEVERITIES
        },
        repeat_window_ms=v.duration(c["repeat_window"], (*p, "repeat_window")),
        recovery_points=tiers[-1].points,
        recovery_every_ms=tiers[-1].every_ms,
        recovery_tiers=tiers,
        thresholds=_thresholds(v, thresholds, (*p, "thresholds"), top),
    )


def _recovery(v: Validator, value: Any, path: Path, top: int) -> tuple[RecoveryTier, ...]:
    """`{points, every}` (one tier), or v3's tiers `[{at_or_above, every_days[, points]}, …]`
    listed from the highest `at_or_above` down to 0 (else refused: a credit below the
    lowest tier would never recover, and an unordered list is ambiguous)."""
    if not isinstance(value, list):
        flat = v.mapping(value, path, required=RECOVERY_KEYS)
        return (
            RecoveryTier(
                0,
                v.duration(flat["every"], (*path, "every")),
                v.integer(flat["points"], (*path, "points")),
            ),
        )
    if not value:
        v.fail(path, "expected a non-empty list of recovery tiers")
    tiers: list[RecoveryTier] = []
    for i, item in enumerate(value):
        t = v.mapping(item, (*path, i), required=TIER_KEYS, optional=TIER_OPTIONAL)
        at = v.integer(t["at_or_above"], (*path, i, "at_or_above"), lo=0, hi=top)
        if tiers and at >= tiers[-1].at_or_above:
            v.fail(
                (*path, i, "at_or_above"),
                f"tiers must be listed from the highest at_or_above down: {at} follows "
                f"{tiers[-1].at_or_above}",
            )
        days = v.integer(t["every_days"], (*path, i, "every_days"), lo=1, hi=3650)
        points = v.integer(t["points"], (*path, i, "points"), lo=1) if "points" in t else 1
        tiers.append(RecoveryTier(at, days * 86_400_000, points))
    if tiers[-1].at_or_above != 0:
        v.fail(
            (*path, len(tiers) - 1, "at_or_above"),
            "the last tier must be at_or_above 0, or a credit below it would never recover",
        )
    return tuple(tiers)


def _thresholds(v: Validator, value: list[Any], path: Path, top: int) -> tuple[Threshold, ...]:
    """The credit thresholds; each action at most once.

    A threshold's action id comes from `credit.<action>`, the creator and the trigger: the
    same action at two thresholds that one deduction crosses would give two different
    actions with one action_id, so such a policy is refused rather than given made-up ids.
    """
    out: list[Threshold] = []
    first: dict[str, int] = {}
    for i, item in enumerate(value):
        t = _threshold(v, item, (*path, i), top)
        name = t.action.name
        if name in first:
            v.fail(
                (*path, i, "action"),
                f"`{name}` is already at threshold [{first[name]}]; an action may appear at "
                "one threshold only (both would share one action_id)",
            )
        first[name] = i
        out.append(t)
    return tuple(out)


def _threshold(v: Validator, value: Any, path: Path, top: int) -> Threshold:
    t = v.mapping(value, path, required=THRESHOLD_KEYS, optional=THRESHOLD_OPTIONAL)
    name = v.string(t["action"], (*path, "action"), THRESHOLD_ACTIONS)
    params = {k: t[k] for k in THRESHOLD_OPTIONAL if k in t}
    return Threshold(
        at_or_below=v.integer(t["at_or_below"], (*path, "at_or_below"), lo=0, hi=top),
        action=_action_params(v, name, params, path, rule_domain=None),
    )


RULE_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "live.unqualified": ("actions",),
    "live.suspected": ("actions",),
    "commerce.medical_personnel": ("actions", "domain", "deduct_from_link"),
    "commerce.unqualified_product": ("actions",),
    "reports.threshold": ("actions", "actions_if_qualified", "window", "distinct_reporters"),
    "reports.inspection": ("actions", "actions_if_qualified"),
    "reports.machine": ("bands",),
    "certification.lapsed_live": ("actions",),
    "restriction.in_force": (),
    "review.confirmed": ("actions",),
    "review.dismissed": (),
    "appeal.upheld": (),
    "appeal.overturned": (),
}


def _rules(v: Validator, value: Any) -> dict[str, RuleSpec]:
    rules = v.mapping(value, ("rules",), required=RULE_IDS, optional=VERDICT_RULE_IDS)
    rules = {**_VERDICT_DEFAULTS, **rules}
    ids = (*RULE_IDS, *VERDICT_RULE_IDS)
    return {rule_id: _rule(v, rule_id, rules[rule_id]) for rule_id in ids}


def _rule(v: Validator, rule_id: str, value: Any) -> RuleSpec:
    p: Path = ("rules", rule_id)
    keys = RULE_KEYS[rule_id]
    r = v.mapping(value, p, required=("severity", *keys), optional=LIFECYCLE_KEYS)
    domain = v.string(r["domain"], (*p, "domain"), DOMAINS) if "domain" in r else None
    spec = RuleSpec(
        rule_id=rule_id,
        severity=_severity(v, r["severity"], (*p, "severity")),
        domain=domain,
        actions=_actions(v, r["actions"], (*p, "actions"), domain) if "actions" in r else (),
        actions_if_qualified=(
            _actions(v, r["actions_if_qualified"], (*p, "actions_if_qualified"), domain)
            if "actions_if_qualified" in r
            else ()
        ),
        bands=_bands(v, r["bands"], (*p, "bands")) if "bands" in r else (),
        deduct_from_link=(
            v.integer(r["deduct_from_link"], (*p, "deduct_from_link"), lo=1)
            if "deduct_from_link" in r
            else 1
        ),
        window_ms=v.duration(r["window"], (*p, "window")) if "window" in r else 0,
        distinct_reporters=(
            v.integer(r["distinct_reporters"], (*p, "distinct_reporters"), lo=1)
            if "distinct_reporters" in r
            else 0
        ),
        life=load_lifecycle(v, r, p),
    )
    return spec


def _severity(v: Validator, value: Any, path: Path) -> Severity:
    s = v.string(value, path, SEVERITIES)
    return SEVERITIES[SEVERITIES.index(s)]


def _bands(v: Validator, value: Any, path: Path) -> tuple[Band, ...]:
    if not isinstance(value, list) or not value:
        v.fail(path, f"expected a non-empty list, got {kind_of(value)}")
    bands = []
    for i, item in enumerate(value):
        b = v.mapping(item, (*path, i), required=BAND_KEYS)
        bands.append(
            Band(
                v.number(b["min_confidence"], (*path, i, "min_confidence"), 0.0, 1.0),
                _actions(v, b["actions"], (*path, i, "actions"), None),
            )
        )
    if [b.min_confidence for b in bands] != sorted((b.min_confidence for b in bands), reverse=True):
        v.fail(path, "bands must be listed from the highest min_confidence down")
    return tuple(bands)


def _actions(v: Validator, value: Any, path: Path, domain: str | None) -> tuple[ActionSpec, ...]:
    if not isinstance(value, list):
        v.fail(path, f"expected a list of actions, got {kind_of(value)}")
    out = []
    for i, item in enumerate(value):
        where = (*path, i)
        if isinstance(item, dict) and len(item) == 1:
            ((name, params),) = item.items()
            v.string(name, where, ACTIONS)
            out.append(_action_params(v, name, params, where, domain))
        else:
            out.append(_action_params(v, v.string(item, where, ACTIONS), {}, where, domain))
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        v.fail(path, "an action is listed twice")
    return tuple(out)


def action_params(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An action's (required, optional) parameters."""
    if name in DURATION_ACTIONS:
        return ("duration",), (("surfaces",) if name == "revoke_commerce" else ())
    return (), (("severity",) if name == "deduct_credit" else ())


def _action_params(
    v: Validator, name: str, params: Any, path: Path, rule_domain: str | None
) -> ActionSpec:
    required, optional = action_params(name)
    p = v.mapping(params, path, required=required, optional=optional)
    duration_ms: int | None = None
    while_qualified = False
    if "duration" in p:
        if p["duration"] == "while_qualified":
            if name != "revoke_commerce" or rule_domain is None:
                v.fail(
                    (*path, "duration"),
                    "`while_qualified` needs revoke_commerce in a rule with a `domain`",
                )
            while_qualified = True
        else:
            duration_ms = v.duration_or_permanent(p["duration"], (*path, "duration"))
    return ActionSpec(
        name=name,
        duration_ms=duration_ms,
        while_qualified=while_qualified,
        surfaces=v.strings(p["surfaces"], (*path, "surfaces"), SURFACES)
        if "surfaces" in p
        else SURFACES,
        severity=_severity(v, p["severity"], (*path, "severity")) if "severity" in p else None,
    )
