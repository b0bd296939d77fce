"""The OpenAPI 3.1 document of the worker's HTTP interface, served at /openapi.json.

The shapes that come from the domain (a live stream, a certification) are generated from
its msgspec Structs, so the document cannot drift from what the views return.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec

from pipeline.domain.certifications import Certification
from pipeline.domain.state import StreamInfo

REF = "#/components/schemas/{name}"
_NULLABLE_INT = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
_UNTIL = {"anyOf": [{"type": "integer"}, {"const": "permanent"}]}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(name=schema)}}},
    }


def _schemas() -> dict[str, Any]:
    _, components = msgspec.json.schema_components((StreamInfo, Certification), ref_template=REF)
    generated = msgspec.json.decode(msgspec.json.encode(components))  # tuples become lists
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    }
    check = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}},
        "required": ["ok", "detail"],
    }
    readiness = {
        "type": "object",
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "checks": {
                "type": "object",
                "description": "kafka, redis, certifications_loaded, assigned, recovered",
                "additionalProperties": {"$ref": REF.format(name="Check")},
            },
            "reason": {"type": "string", "description": "every failed check, when not ready"},
        },
        "required": ["status", "checks"],
    }
    creator = {
        "type": "object",
        "properties": {
            "creator_id": {"type": "string"},
            "platform": {
                "type": ["string", "null"],
                "description": "the creator's platform (CONTRACT §11); null: a state written "
                "before v3",
            },
            "credit": {"type": "integer"},
            "credit_max": {"type": "integer"},
            "last_deduction_ts": _NULLABLE_INT,
            "strikes": {
                "type": "object",
                "description": "rule_id -> ts of that rule's last deduction",
                "additionalProperties": {"type": "integer"},
            },
            "live_streams": {
                "type": "object",
                "description": "stream_id -> the live stream",
                "additionalProperties": {"$ref": REF.format(name="StreamInfo")},
            },
            "restrictions": {
                "type": "object",
                "properties": {
                    "commerce_revoked": {
                        "type": "object",
                        "description": "surface -> until (ms), `permanent` or `while_qualified`",
                        "additionalProperties": {
                            "anyOf": [*_UNTIL["anyOf"], {"const": "while_qualified"}]
                        },
                    },
                    "banned_until": _UNTIL,
                    "recommendation_limited_until": _UNTIL,
                },
                "required": ["commerce_revoked"],
            },
            "certifications": {
                "type": "object",
                "description": "domain -> the certification, and whether it qualifies now",
                "additionalProperties": {
                    "allOf": [
                        {"$ref": REF.format(name="Certification")},
                        {
                            "type": "object",
                            "properties": {"qualified": {"type": "boolean"}},
                            "required": ["qualified"],
                        },
                    ]
                },
            },
            "policy_version": {"type": "string"},
            "as_of": {"type": "integer", "description": "ms since the epoch"},
        },
        "required": [
            "creator_id", "credit", "credit_max", "last_deduction_ts", "strikes",
            "live_streams", "restrictions", "certifications", "policy_version", "as_of",
        ],
    }  # fmt: skip
    return {
        **generated,
        "Error": error,
        "Check": check,
        "Readiness": readiness,
        "CreatorView": creator,
    }


def _version() -> str:
    try:
        return version("livegate")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


@functools.cache
def document() -> dict[str, Any]:
    bearer = [{"bearer": []}]
    unauthorized = _json("Error", "LIVEGATE_WEB_TOKEN is set and the bearer token is wrong")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LiveGate worker",
            "version": _version(),
            "description": "The HTTP interface of one `livegate worker` (LIVEGATE_WEB_PORT). "
            "With LIVEGATE_WEB_TOKEN set, every path but /metrics, /healthz and /readyz "
            "needs `Authorization: Bearer <token>`.",
        },
        "paths": {
            "/creators/{creator_id}": {
                "get": {
                    "summary": "One creator's enforcement state and certifications",
                    "description": "Any worker answers: the request is forwarded to the "
                    "worker that owns the creator's partition.",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "creator_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1},
                        }
                    ],
                    "responses": {
                        "200": _json("CreatorView", "the creator's view"),
                        "401": unauthorized,
                        "404": _json("Error", "no state for this creator"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: the process answers",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "alive",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"const": "alive"}},
                                        "required": ["status"],
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: able to decide now",
                    "description": "200 when Kafka and Redis are reachable, the certification "
                    "table is loaded, partitions are assigned (or the worker is a spare: more "
                    "workers than partitions) and the tables recovered; "
                    "503 with the reason otherwise.",
                    "security": [],
                    "responses": {
                        "200": _json("Readiness", "ready"),
                        "503": _json("Readiness", "not ready: `reason` says why"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (LiveGate's and Faust's)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "the Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": bearer,
                    "responses": {
                        "200": {
                            "description": "the OpenAPI document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "401": unauthorized,
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
