"""Agent for `live.streams`: streams started, updated and ended."""

from __future__ import annotations

import faust

from agents.runtime import Runtime, batch_agent


def attach(app: faust.App, rt: Runtime) -> None:
    batch_agent(app, rt, rt.settings.topics.live, "live")
