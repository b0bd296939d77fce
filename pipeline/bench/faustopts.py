"""The Faust settings LiveGate's worker runs with, so the engine floor runs with the same.

They are read from `agents.app.create_app` itself, by recording the arguments it passes to
`faust.App` (and stopping it there), rather than copied: when the worker's settings are
tuned, the floor follows in the same run.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from unittest import mock

from pipeline.bench.kafkaio import BenchError
from pipeline.settings import Settings


class _Recorded(Exception):
    pass


def worker_app_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments `create_app(settings, …)` gives `faust.App`."""
    import faust

    import agents.app
    from pipeline.policyfile import load_policy_file

    recorded: dict[str, Any] = {}

    def record(app_id: str, **options: Any) -> None:
        recorded.update(options)
        raise _Recorded

    policy = load_policy_file(settings.policy_path)
    with mock.patch.object(faust, "App", record), contextlib.suppress(_Recorded):
        agents.app.create_app(settings, policy)
    if not recorded:
        raise BenchError("could not read the worker's Faust settings from agents.app.create_app")
    return recorded


def printable(options: dict[str, Any]) -> dict[str, Any]:
    """The options as JSON values (objects such as credentials by their type name)."""
    out = {}
    for key, value in options.items():
        try:
            json.dumps(value)
            out[key] = value
        except TypeError:
            out[key] = type(value).__name__
    return out


def client_options(options: dict[str, Any]) -> dict[str, Any]:
    """The settings the raw passthrough shares with the worker: fetch and produce sizes."""
    keys = ("broker_max_poll_records", "producer_acks", "producer_linger",
            "producer_max_batch_size")  # fmt: skip
    return {k: options[k] for k in keys if k in options}
