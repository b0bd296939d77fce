"""CONTRACT §12's signatures and seals, byte for byte: what a third-party signer must
produce, what the worker accepts, and why it refuses (the `unauthenticated` detail)."""

import hashlib
import hmac

import pytest

from pipeline.domain.signing import (
    FOREIGN,
    SEALED,
    UNSEALED,
    KeyListError,
    check_signature,
    parse_keys,
    seal_of,
    seal_status,
    sign,
)

KEYS = {"k1": "s3cret", "k2": "n3w"}
VERDICT = {
    "event_id": "v-1", "type": "appeal_decided", "ts": 1_780_000_000_000, "creator_id": "c-1",
    "appeal_id": "a-1", "verdict": "overturn", "reviewer_id": "rev.7@ops", "role": "senior",
    "note": "资质有效",
}  # fmt: skip


def test_the_mac_covers_the_canonical_json_without_the_signature():
    body = (
        '{"appeal_id":"a-1","creator_id":"c-1","event_id":"v-1","note":"资质有效",'
        '"reviewer_id":"rev.7@ops","role":"senior","ts":1780000000000,"type":"appeal_decided",'
        '"verdict":"overturn"}'
    ).encode()
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    signed = sign(VERDICT, "k1", "s3cret")
    assert signed["signature"] == {"key_id": "k1", "mac": expected}
    assert check_signature(signed, KEYS) is None
    assert sign(signed, "k2", "n3w")["signature"]["key_id"] == "k2"  # re-signing replaces it


@pytest.mark.parametrize(
    ("case", "change", "detail"),
    [
        ("unsigned", lambda e: {k: v for k, v in e.items() if k != "signature"}, "no `signature`"),
        ("wrong secret", lambda e: sign(e, "k1", "guessed"), "does not verify"),
        ("unknown key id", lambda e: sign(e, "k9", "s3cret"), "does not hold"),
        ("tampered", lambda e: {**e, "verdict": "uphold"}, "does not verify"),
        ("another reviewer", lambda e: {**e, "reviewer_id": "boss"}, "does not verify"),
        ("not an object", lambda e: {**e, "signature": "abc"}, "must be an object"),
        ("a reviewer deciding an appeal", lambda e: sign({**e, "role": "reviewer"}, "k1", "s3cret"),
         "role 'reviewer' may not decide appeal_decided"),
        ("no role", lambda e: sign({k: v for k, v in e.items() if k != "role"}, "k1", "s3cret"),
         "role 'None' is not one of"),
    ],
)  # fmt: skip
def test_refused_signatures_say_why(case, change, detail):
    event = change(sign(VERDICT, "k1", "s3cret"))
    why = check_signature(event, KEYS)
    assert why is not None and detail in why, case
    assert "s3cret" not in why


def test_keys_rotate_and_never_show_in_errors():
    assert parse_keys("old=a, new=b=c") == {"old": "a", "new": "b=c"}
    with pytest.raises(KeyListError) as err:
        parse_keys("old=top-secret,broken")
    assert "top-secret" not in str(err.value)
    with pytest.raises(KeyListError, match="twice"):
        parse_keys("a=1,a=2")


def test_a_seal_is_the_hmac_of_the_hash():
    digest = "ab" * 32
    record = {"hash": digest, "seal": seal_of(digest, "k1", "s3cret")}
    assert record["seal"]["mac"] == hmac.new(b"s3cret", digest.encode(), "sha256").hexdigest()
    assert seal_status(record, KEYS) == SEALED
    assert seal_status({"hash": digest}, KEYS) == UNSEALED  # pre-v3
    assert seal_status({**record, "hash": "cd" * 32}, KEYS) == FOREIGN
    assert seal_status({"hash": digest, "seal": seal_of(digest, "k9", "x")}, KEYS) == FOREIGN
