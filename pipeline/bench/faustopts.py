"""The Faust settings LiveGate's worker runs with, so the engine floor runs with the same.

They come from the same pure function the worker's `create_app` calls
(`pipeline.engine.faustconfig.faust_options`), rather than copied: when the worker's settings
are tuned, the floor follows in the same run.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.adapters.settings import Settings
from pipeline.engine.faustconfig import faust_options


def worker_app_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments the worker gives `faust.App` (pipeline/engine/faustconfig.py)."""
    return faust_options(settings)


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
