"""`livegate breaker release` input checks, before it reads anything (issue 14)."""

from __future__ import annotations

import pytest

from tests.conftest import isolated_env
from tests.helpers import free_port, run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("period", "line"),
    [
        (["--from", "2024-02-01", "--to", "2024-01-01"],
         "--to 2024-01-01 (2024-01-01T00:00:00Z) is not after --from 2024-02-01"),
        (["--from", "-1h", "--to", "now-2h"], "is not after --from -1h"),
        (["--from", "1700000000", "--to", "now"], "looks like seconds; use milliseconds"),
    ],
)  # fmt: skip
def test_a_bad_period_is_one_line_before_any_scan(stack_env, uid, period, line):
    env = isolated_env(stack_env, uid)
    env["LIVEGATE_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"  # nothing there to scan
    r = run_cli(env, "breaker", "release", *period)
    assert r.returncode == 1
    (only,) = r.stderr.strip().splitlines()
    assert line in only and "cannot reach" not in only
