"""Who is asking, behind a TLS-terminating proxy: the client's address and whether the
browser spoke HTTPS. X-Forwarded-For and X-Forwarded-Proto are honoured only on a
connection from a trusted proxy's address (`--trusted-proxy`); from anyone else they are
what the client chose to send, and ignored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    address: str
    secure: bool  # the browser's connection is HTTPS (the cookie gets `Secure`)


def client_of(
    remote: str | None, headers: Mapping[str, str], secure: bool, trusted: frozenset[str]
) -> Client:
    address = remote or "unknown"
    if address not in trusted:
        return Client(address, secure)
    # The rightmost address the trusted proxies did not add is the client's: entries to its
    # left are the client's own claims.
    hops = [h.strip() for h in headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            address = hop
            break
    proto = headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return Client(address[:64], secure or proto == "https")
