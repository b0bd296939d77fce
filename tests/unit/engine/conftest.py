"""What the engine's unit tests share: fatal() raises instead of ending the test process."""

from __future__ import annotations

import pytest

from pipeline.engine import processor as processor_module


class Fatal(Exception):
    pass


@pytest.fixture(autouse=True)
def no_exit(monkeypatch):
    """fatal() would end the test process: raise instead, so a test can see it."""

    def fatal(message, exc):
        raise Fatal(message) from exc

    monkeypatch.setattr(processor_module, "fatal", fatal)
