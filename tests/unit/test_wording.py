"""The command line's validation messages in words (issue 14), from the decoder's details."""

from __future__ import annotations

import pytest

from pipeline.ops.registry import RegistryError, build_change, grant_fields, revoke_fields
from pipeline.ops.wording import check_ident, in_words


@pytest.mark.parametrize(
    ("detail", "words"),
    [
        ("expected `str` matching regex '^[A-Za-z0-9._:-]+$' at `$.creator_id`",
         "creator_id must be 1–128 characters of letters, digits and . _ : -"),
        ("expected `str` of length <= 128 at `$.creator_id`",
         "creator_id must be 1–128 characters of letters, digits and . _ : -"),
        ("expected `str` of length >= 1 at `$.license_id`", "license_id must not be empty"),
        ("expected `str` of length <= 256 at `$.issuer`", "issuer must be at most 256 characters"),
        ("expected `int` >= 0 at `$.valid_from`", "valid_from must not be before 1970-01-01"),
        ("expected `int`, got `str` at `$.ts`", "ts must be an integer, got str"),
        ("missing required field `issuer` at `$`", "issuer is required"),
        ("Object missing required field `event_id`", "event_id is required"),
        ("Expected `str`, got `int` - at `$.license_id`", "license_id must be text, got int"),
        ("Invalid enum value 'suspended' - at `$.status`",
         "status 'suspended' is not one of the allowed values"),
        ("Input data was truncated", "the JSON is cut off (truncated)"),
        ("`valid_from` must be earlier than `valid_until`", "valid_until must be after valid_from"),
    ],
)  # fmt: skip
def test_details_in_words(detail, words):
    assert in_words(detail) == words


def test_build_change_speaks_words():
    with pytest.raises(RegistryError) as exc:
        build_change(grant_fields("a b", "health", "L", "I", 0, 10, None, 5))
    assert str(exc.value) == "creator_id must be 1–128 characters of letters, digits and . _ : -"
    with pytest.raises(RegistryError) as exc:
        build_change(revoke_fields("a", "astrology", "r", 5))
    assert str(exc.value) == "unknown domain 'astrology': use health, finance, law or education"


def test_check_ident():
    assert check_ident("creator-1:x_y.z") is None
    assert "1–128 characters" in (check_ident("bad id!") or "")
    assert check_ident("x" * 129) is not None
