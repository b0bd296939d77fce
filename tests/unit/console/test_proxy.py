"""X-Forwarded-For / -Proto honoured only from the trusted proxy."""

from __future__ import annotations

from pipeline.console.proxy import client_of

PROXY = frozenset({"10.0.0.2"})
HEADERS = {"X-Forwarded-For": "1.1.1.1, 203.0.113.9", "X-Forwarded-Proto": "https"}


def test_from_the_trusted_proxy_the_client_is_the_last_hop_it_added():
    c = client_of("10.0.0.2", HEADERS, False, PROXY)
    assert (c.address, c.secure) == ("203.0.113.9", True)  # 1.1.1.1 is the client's claim


def test_from_anyone_else_the_headers_are_ignored():
    c = client_of("198.51.100.4", HEADERS, False, PROXY)
    assert (c.address, c.secure) == ("198.51.100.4", False)
    assert client_of("10.0.0.2", HEADERS, False, frozenset()).address == "10.0.0.2"


def test_without_headers_the_proxy_is_the_client_and_tls_is_its_own():
    c = client_of("10.0.0.2", {}, True, PROXY)
    assert (c.address, c.secure) == ("10.0.0.2", True)
