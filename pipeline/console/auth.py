"""Reviewers, their hashed secrets, signed session cookies and CSRF tokens (pure, no I/O
but reading the users file).

Users file: one `reviewer_id:hash[:role]` per line (`#` comments and blank lines ignored),
the role one of `reviewer` (reviews only; the default), `senior` (appeals too) or `admin`
(CONTRACT §12: the role travels in the signed verdict and the worker checks it), the hash
made by `livegate console add-user` (scrypt from the standard library, N=2^17: about 128 MiB
and a few hundred ms a check). A session is a cookie signed with HMAC-SHA256 that names the
reviewer's session epoch (store.py: a sign-out moves it, ending the session everywhere);
the CSRF token of a form is derived from the session's random nonce, so a page of another
session, or of nobody, cannot post.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipeline.domain.errors import LiveGateError
from pipeline.domain.signing import ROLES

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MAX_SCRYPT_N = 2**18  # a hash asking for more memory than this is not checked
_MAXMEM = 128 * SCRYPT_R * MAX_SCRYPT_N + 2**24
# CONTRACT §12's reviewer_id: a sign-in name, never free text (and no ':').
_REVIEWER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
DEFAULT_ROLE = "reviewer"


class UsersFileError(LiveGateError):
    """The users file is missing or has a line that is not `reviewer_id:hash`."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def valid_reviewer_id(reviewer_id: str) -> bool:
    return bool(_REVIEWER.match(reviewer_id))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$key`, salt and key base64url."""
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                         p=SCRYPT_P, dklen=32, maxmem=_MAXMEM)  # fmt: skip
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        if int(n) > MAX_SCRYPT_N or int(r) > SCRYPT_R or int(p) > SCRYPT_P:
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(expected), maxmem=_MAXMEM,
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def is_weak(encoded: str) -> bool:
    """A hash made with less work than today's (an older users file): still accepted, and
    the console names the reviewers to re-add at start."""
    try:
        return int(encoded.split("$")[1]) < SCRYPT_N
    except (IndexError, ValueError):
        return True


@cache
def _dummy() -> str:
    """Checked when the name is unknown, so a wrong name takes as long as a wrong secret."""
    return hash_password("", salt=b"\0" * 16)


@dataclass(frozen=True)
class Users:
    hashes: dict[str, str]
    roles: dict[str, str] = field(default_factory=dict)

    def role(self, reviewer_id: str) -> str:
        return self.roles.get(reviewer_id, DEFAULT_ROLE)

    def may_decide(self, reviewer_id: str, event_type: str) -> bool:
        return event_type in ROLES[self.role(reviewer_id)]

    def check(self, reviewer_id: str, password: str) -> bool:
        encoded = self.hashes.get(reviewer_id)
        ok = verify_password(password, encoded or _dummy())
        return ok and encoded is not None

    def __contains__(self, reviewer_id: object) -> bool:
        return reviewer_id in self.hashes

    def __len__(self) -> int:
        return len(self.hashes)

    def weak(self) -> list[str]:
        return sorted(r for r, encoded in self.hashes.items() if is_weak(encoded))


def parse_users(text: str, source: str = "users file") -> Users:
    hashes: dict[str, str] = {}
    roles: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        reviewer, sep, rest = line.partition(":")
        encoded, _, role = rest.partition(":")
        if not sep or not valid_reviewer_id(reviewer) or not encoded.startswith("scrypt$"):
            raise UsersFileError(
                f"{source} line {number}: expected reviewer_id:scrypt$…[:role] "
                "(make lines with `livegate console add-user`)"
            )
        if role and role not in ROLES:
            raise UsersFileError(
                f"{source} line {number}: role {role[:32]!r} is not one of {', '.join(ROLES)}"
            )
        hashes[reviewer] = encoded
        roles[reviewer] = role or DEFAULT_ROLE
    return Users(hashes, roles)


def load_users(path: Path) -> Users:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"cannot read the users file {path}: {exc}") from None
    users = parse_users(text, str(path))
    if not users.hashes:
        raise UsersFileError(f"the users file {path} names no reviewer")
    return users


def set_user_line(text: str, reviewer_id: str, encoded: str, role: str = DEFAULT_ROLE) -> str:
    """The users file text with reviewer_id's line replaced (or added)."""
    kept = [line for line in text.splitlines() if line.partition(":")[0].strip() != reviewer_id]
    return "\n".join([*kept, f"{reviewer_id}:{encoded}:{role}"]) + "\n"


@dataclass(frozen=True)
class Session:
    reviewer_id: str
    nonce: str
    issued_ms: int
    epoch: int  # the reviewer's session epoch when signed in (store.py)


class Signer:
    """Signs session cookies and derives CSRF tokens with one server secret."""

    def __init__(self, secret: bytes, max_age_ms: int) -> None:
        self._secret = secret
        self.max_age_ms = max_age_ms

    def _mac(self, purpose: str, data: bytes) -> str:
        return _b64(hmac.new(self._secret, purpose.encode() + b"\0" + data, "sha256").digest())

    def new_session(self, reviewer_id: str, now_ms: int, epoch: int = 0) -> tuple[Session, str]:
        session = Session(reviewer_id, _b64(os.urandom(16)), now_ms, epoch)
        body = _b64(json.dumps([reviewer_id, session.nonce, now_ms, epoch]).encode())
        return session, f"{body}.{self._mac('session', body.encode())}"

    def session(self, cookie: str | None, now_ms: int) -> Session | None:
        """The session a cookie carries, or None if unsigned, tampered with or expired."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", body.encode())):
            return None
        try:
            reviewer_id, nonce, issued, epoch = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return None
        if not isinstance(issued, int) or not 0 <= now_ms - issued < self.max_age_ms:
            return None
        if not isinstance(epoch, int):
            return None
        return Session(str(reviewer_id), str(nonce), issued, epoch)

    def csrf(self, nonce: str) -> str:
        """The CSRF token of the session (or login form) with this nonce."""
        return self._mac("csrf", nonce.encode())

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.csrf(nonce))

    @staticmethod
    def new_nonce() -> str:
        return _b64(os.urandom(16))
