"""Agent for `moderation.reviews`: review verdicts, appeals filed and appeal verdicts."""

from __future__ import annotations

import faust

from agents.runtime import Runtime, batch_agent


def attach(app: faust.App, rt: Runtime) -> None:
    batch_agent(app, rt, rt.settings.topics.reviews, "reviews")
