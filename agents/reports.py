"""Agent for `moderation.reports`: user, inspection and machine reports."""

from __future__ import annotations

import faust

from agents.runtime import Runtime, batch_agent


def attach(app: faust.App, rt: Runtime) -> None:
    batch_agent(app, rt, rt.settings.topics.reports, "reports")
