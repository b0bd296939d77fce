"""The JSON Schema of the policy file (config/policy.schema.json), for editors and CI.

Built from the loader's own definitions (the key sets, rule ids, actions and their
parameters in policy.py, the duration syntax in yamlcheck.py), so a key the loader learns
is a key the schema knows. `livegate policy check` stays the authority: the schema cannot
say what spans keys (credit.start ≤ credit.max, bands in order, an action listed twice,
`while_qualified` only in a rule with a `domain`).
"""

from __future__ import annotations

from typing import Any, Final

from pipeline.domain.events import DOMAINS, SURFACES
from pipeline.domain.lifecycle import LIFECYCLE_KEYS, MAX_DAILY_CAP, MODES, ROLLOUT_KEYS
from pipeline.domain.notices import LANGUAGES, NOTICE_ACTIONS
from pipeline.domain.platforms import PLATFORM_PATTERN
from pipeline.domain.policy import (
    ACTIONS,
    BAND_KEYS,
    CAP_RANGES,
    CREDIT_KEYS,
    EXEMPTION_RANGES,
    LOOP_CAP_RANGES,
    RECOVERY_KEYS,
    RULE_IDS,
    RULE_KEYS,
    SEVERITIES,
    STATE_KEYS,
    THRESHOLD_ACTIONS,
    THRESHOLD_KEYS,
    TIER_KEYS,
    TOP_KEYS,
    TOP_OPTIONAL,
    V3_OPTIONAL,
    VERDICT_RULE_IDS,
    action_params,
)
from pipeline.domain.yamlcheck import DURATION_PATTERN

NOTICE_RULES: Final = (
    *RULE_IDS, *VERDICT_RULE_IDS, "state.live_stream_cap",
    *(f"credit.{a}" for a in THRESHOLD_ACTIONS),
)  # fmt: skip
SCHEMA_ID: Final = "https://livegate.invalid/policy.schema.json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _object(properties: dict[str, Schema], required: tuple[str, ...], **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _int(lo: int) -> Schema:
    return {"type": "integer", "minimum": lo}


def loop_caps(section: str) -> dict[str, Schema]:
    """The review loop's caps of one section, with their ranges."""
    return {
        key.split(".", 1)[1]: {**_int(lo), "maximum": hi}
        for key, (lo, hi) in LOOP_CAP_RANGES.items()
        if key.startswith(section + ".")
    }


def _strings(choices: tuple[str, ...] = ()) -> Schema:
    item: Schema = {"enum": list(choices)} if choices else _ref("name")
    return {"type": "array", "items": item, "minItems": 1}


def _param(name: str, param: str) -> Schema:
    if param == "duration":
        duration = _ref("duration_or_permanent")
        if name == "revoke_commerce":
            return {"anyOf": [duration, {"const": "while_qualified"}]}
        return duration
    if param == "surfaces":
        return _strings(SURFACES)
    return _ref("severity")  # deduct_credit's severity


def _action(name: str) -> Schema:
    required, optional = action_params(name)
    params = _object({p: _param(name, p) for p in (*required, *optional)}, required)
    with_params = _object({name: params}, (name,), minProperties=1, maxProperties=1)
    return {"anyOf": [{"const": name}, with_params]} if not required else with_params


def _rule(rule_id: str) -> Schema:
    shapes: dict[str, Schema] = {
        "actions": _ref("actions"),
        "actions_if_qualified": _ref("actions"),
        "bands": {"type": "array", "items": _ref("band"), "minItems": 1},
        "domain": {"enum": list(DOMAINS)},
        "deduct_from_link": _int(1),
        "window": _ref("duration"),
        "distinct_reporters": _int(1),
    }
    keys = ("severity", *RULE_KEYS[rule_id])
    properties = {k: _ref("severity") if k == "severity" else shapes[k] for k in keys}
    return _object({**properties, **_lifecycle()}, keys)


def _lifecycle() -> dict[str, Schema]:
    """CONTRACT §10's rule fields (`mode: off` written bare is YAML's false)."""
    rollout = {"percent": {**_int(0), "maximum": 100}, "salt": _ref("name")}
    life: dict[str, Schema] = {
        "mode": {"anyOf": [{"enum": list(MODES)}, {"const": False}]},
        "rollout": _object(rollout, ROLLOUT_KEYS),
        "expires_at": {
            "anyOf": [_int(0), {"type": "string", "format": "date-time"}],
            "description": "ms since the epoch, or an ISO 8601 time (UTC if no zone)",
        },
        "daily_cap": {**_int(0), "maximum": MAX_DAILY_CAP},
    }
    return {k: life[k] for k in LIFECYCLE_KEYS}


def _threshold(name: str) -> Schema:
    required, optional = action_params(name)
    params = {  # no `while_qualified` here: a threshold has no domain
        p: _ref("duration_or_permanent") if p == "duration" else _param(name, p)
        for p in (*required, *optional)
    }
    properties = {"at_or_below": _int(0), "action": {"const": name}, **params}
    return _object(properties, (*THRESHOLD_KEYS, *required))


def _domain_map(description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "propertyNames": {"minLength": 1},
        "additionalProperties": {"anyOf": [{"enum": list(DOMAINS)}, {"type": "null"}]},
    }


def policy_schema() -> Schema:
    credit = {
        "start": _int(0),
        "max": _int(1),
        "deductions": _object({s: _int(0) for s in SEVERITIES}, SEVERITIES),
        "repeat_window": _ref("duration"),
        "recovery": {
            "anyOf": [
                _object({"points": _int(0), "every": _ref("duration")}, RECOVERY_KEYS),
                {  # v3: tiers from the highest at_or_above down to 0 (check says the order)
                    "type": "array",
                    "minItems": 1,
                    "items": _object(
                        {"at_or_above": _int(0), "every_days": _int(1), "points": _int(1)},
                        TIER_KEYS,
                    ),
                },
            ]
        },
        "thresholds": {
            "type": "array",
            "items": {"oneOf": [_threshold(a) for a in THRESHOLD_ACTIONS]},
        },
    }
    state = {
        "dedup_horizon": _ref("duration"),
        "max_decided_ids": _int(1),
        "stream_idle_forget": _ref("duration"),
        **{cap: {**_int(lo), "maximum": hi} for cap, (lo, hi) in CAP_RANGES.items()},
    }
    top = {
        "categories": _domain_map("platform category -> regulated domain, or null for none"),
        "title_keywords": {
            "type": "object",
            "description": "domain -> keywords that make a title suspected of it",
            "propertyNames": {"enum": list(DOMAINS)},
            "additionalProperties": _strings(),
        },
        "product_categories": _domain_map("product category -> the domain it needs, or null"),
        "professional_reasons": _strings(),
        "credit": _object({k: credit[k] for k in CREDIT_KEYS}, CREDIT_KEYS),
        "rules": _object({r: _rule(r) for r in (*RULE_IDS, *VERDICT_RULE_IDS)}, RULE_IDS),
        "appeals": _object({"window": _ref("duration"), **loop_caps("appeals")}, ()),
        "review": _object({"sla": _ref("duration"), **loop_caps("review")}, ()),
        "exemptions": _object(
            {k: {**_int(lo), "maximum": hi} for k, (lo, hi) in EXEMPTION_RANGES.items()}, ()
        ),
        "state": _object(state, STATE_KEYS),
        # v3 (CONTRACT §11). An overlay is a partial policy: the schema checks its names only;
        # `policy check` loads every platform's merged policy.
        "platforms": {
            "type": "object",
            "propertyNames": {"pattern": PLATFORM_PATTERN},
            "additionalProperties": {"type": "object", "minProperties": 1},
        },
        "notices": _object(
            {
                # Every credit.* too: which ones a policy needs spans keys (its thresholds).
                "rules": _object({r: _ref("notice") for r in NOTICE_RULES}, NOTICE_RULES),
                "actions": _object({a: _ref("notice") for a in NOTICE_ACTIONS}, NOTICE_ACTIONS),
                "appeal": _ref("notice"),
            },
            ("rules", "actions", "appeal"),
        ),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "LiveGate policy file (config/policy.yaml)",
        "description": "Generated by `livegate policy schema`; `livegate policy check` is "
        "the authority on what loads.",
        **_object({k: top[k] for k in (*TOP_KEYS, *TOP_OPTIONAL, *V3_OPTIONAL)}, TOP_KEYS),
        "$defs": {
            "name": {"type": "string", "minLength": 1},
            "severity": {"enum": list(SEVERITIES)},
            "notice": _object(
                {lang: {"type": "string", "minLength": 1} for lang in LANGUAGES}, LANGUAGES
            ),
            "duration": {
                "type": "string",
                "pattern": DURATION_PATTERN,
                "description": "like 24h, 7d, 10m, 30s",
            },
            "duration_or_permanent": {"anyOf": [_ref("duration"), {"const": "permanent"}]},
            "action": {"anyOf": [_action(a) for a in ACTIONS]},
            "actions": {"type": "array", "items": _ref("action")},
            "band": _object(
                {
                    "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "actions": _ref("actions"),
                },
                BAND_KEYS,
            ),
        },
    }
