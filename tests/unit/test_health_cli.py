"""`livegate health`'s default URL: the worker's own port, on loopback when it binds all."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.adapters.settings import Settings
from pipeline.cli.health import default_url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:7001/readyz"),
        ("0.0.0.0", "http://127.0.0.1:7001/readyz"),
        ("::", "http://127.0.0.1:7001/readyz"),
        ("10.1.2.3", "http://10.1.2.3:7001/readyz"),
        ("::1", "http://[::1]:7001/readyz"),
    ],
)
def test_default_url(host: str, url: str):
    settings = dataclasses.replace(Settings.from_env({}), web_host=host, web_port=7001)
    assert default_url(settings) == url
