"""The console's guards on what a request names: where sign-in may send the browser, and
which creator ids may reach a worker's path."""

from __future__ import annotations

import pytest

from pipeline.console.feeds import creator_path
from pipeline.console.signin import local_path as _local


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/", "/\n/evil.example/", "/\r/evil.example/", "//evil.example/",
        "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/\x00x",
        "evil.example", "/ok\x7f", "", None,
    ],
)  # fmt: skip
def test_next_is_only_ever_a_local_path(target):
    assert _local(target) == "/"


@pytest.mark.parametrize("target", ["/", "/items/ab12?x=1", "/creators/c-1", "/?kind=review"])
def test_local_paths_are_kept(target):
    assert _local(target) == target


@pytest.mark.parametrize("creator", ["../openapi.json", "a/b", "..%2Fx", "", "x" * 129, "é"])
def test_a_creator_id_off_the_contracts_pattern_names_no_worker_path(creator):
    assert creator_path(creator) is None


def test_a_creator_id_is_quoted_whole_into_one_path_segment():
    assert creator_path("c-1:a.b_2") == "/creators/c-1:a.b_2"
    assert creator_path("..") == "/creators/%2E%2E"  # never a dot segment
