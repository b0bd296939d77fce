"""Reviewers' secrets, the users file, signed sessions and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pipeline.console.auth import (
    Signer,
    UsersFileError,
    hash_password,
    parse_users,
    set_user_line,
    verify_password,
)

HOUR = 3_600_000


def test_a_hash_verifies_its_secret_only():
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$131072$8$1$")  # N=2^17
    assert "correct horse" not in encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert not verify_password("", encoded)


def test_the_same_secret_hashes_differently_each_time():
    assert hash_password("s3cret-s3cret") != hash_password("s3cret-s3cret")


@pytest.mark.parametrize("bad", ["", "scrypt$1$2", "pbkdf2$1$2$3$4$5", "scrypt$x$8$1$AA$AA"])
def test_a_malformed_hash_verifies_nothing(bad: str):
    assert not verify_password("anything", bad)


def test_users_file_lines_comments_and_blanks():
    h = hash_password("alice-secret")
    users = parse_users(f"# reviewers\n\nalice:{h}\n  bob.k:{hash_password('bob-secret')}  \n")
    assert set(users.hashes) == {"alice", "bob.k"}
    assert users.check("alice", "alice-secret")
    assert not users.check("alice", "bob-secret")
    assert not users.check("mallory", "alice-secret")
    assert "alice" in users and "mallory" not in users


@pytest.mark.parametrize(
    "line", ["alice", "alice:plaintext", ":scrypt$1", "al ice:scrypt$1$2$3$4$5", "a:b:scrypt$"]
)
def test_a_bad_users_line_is_refused_with_its_number(line: str):
    with pytest.raises(UsersFileError, match="line 2"):
        parse_users(f"# header\n{line}\n")


def test_set_user_line_replaces_or_adds():
    text = "# r\nalice:scrypt$old\nbob:scrypt$b\n"
    assert set_user_line(text, "alice", "scrypt$new") == (
        "# r\nbob:scrypt$b\nalice:scrypt$new:reviewer\n"
    )
    assert set_user_line("", "carol", "scrypt$c", "senior") == "carol:scrypt$c:senior\n"


def test_roles_come_from_the_users_file_and_decide_what_a_reviewer_may_send():
    users = parse_users("alice:scrypt$a:senior\nbob:scrypt$b\nroot:scrypt$r:admin\n")
    assert (users.role("alice"), users.role("bob"), users.role("root")) == (
        "senior", "reviewer", "admin",
    )  # fmt: skip
    assert users.may_decide("bob", "review_decided")
    assert not users.may_decide("bob", "appeal_decided")
    assert users.may_decide("alice", "appeal_decided")
    with pytest.raises(UsersFileError, match="role 'boss'"):
        parse_users("carol:scrypt$c:boss\n")


def test_a_session_cookie_round_trips_and_expires():
    signer = Signer(b"k" * 32, max_age_ms=12 * HOUR)
    session, cookie = signer.new_session("alice", now_ms=1_000)
    got = signer.session(cookie, now_ms=1_000 + HOUR)
    assert got == session and got.reviewer_id == "alice"
    assert signer.session(cookie, now_ms=1_000 + 12 * HOUR) is None  # expired
    assert signer.session(cookie, now_ms=0) is None  # from the future


def test_a_tampered_or_foreign_cookie_is_refused():
    signer = Signer(b"k" * 32, max_age_ms=HOUR)
    _, cookie = signer.new_session("alice", now_ms=0)
    _, other = Signer(b"x" * 32, max_age_ms=HOUR).new_session("alice", now_ms=0)
    body, mac = cookie.rsplit(".", 1)
    _, bob = signer.new_session("bob", now_ms=0)
    assert signer.session(other, 1) is None
    assert signer.session(bob.rsplit(".", 1)[0] + "." + mac, 1) is None  # alice's mac, bob's body
    assert signer.session(body, 1) is None
    assert signer.session("", 1) is None and signer.session(None, 1) is None


def test_csrf_tokens_belong_to_one_session():
    signer = Signer(b"k" * 32, max_age_ms=HOUR)
    a, _ = signer.new_session("alice", 0)
    b, _ = signer.new_session("alice", 0)
    token = signer.csrf(a.nonce)
    assert signer.csrf_ok(a.nonce, token)
    assert not signer.csrf_ok(b.nonce, token)
    assert not signer.csrf_ok(a.nonce, "")
    assert not signer.csrf_ok(a.nonce, None)
    assert not Signer(b"x" * 32, HOUR).csrf_ok(a.nonce, token)


def test_an_older_cheaper_hash_still_verifies_and_is_named_weak():
    salt = b"\1" * 16
    key = hashlib.scrypt(b"s3cret-s3cret", salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt$16384$8$1${base64.urlsafe_b64encode(salt).rstrip(b'=').decode()}$" + (
        base64.urlsafe_b64encode(key).rstrip(b"=").decode())  # fmt: skip
    assert verify_password("s3cret-s3cret", old)
    users = parse_users(f"alice:{old}\nbob:{hash_password('bob-secret')}\n")
    assert users.weak() == ["alice"]


def test_a_hash_asking_for_more_work_than_allowed_is_not_checked():
    assert not verify_password("x", "scrypt$4194304$8$1$AAAA$AAAA")
