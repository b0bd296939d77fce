"""`livegate console add-user` / `hash-password` and the console's refusals, as typed."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from pipeline.console.auth import load_users, verify_password
from tests.helpers import LIVEGATE

pytestmark = pytest.mark.e2e


def livegate(*args: str, stdin: str = "", env: dict[str, str] | None = None):
    return subprocess.run([LIVEGATE, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=env or dict(os.environ), check=False)  # fmt: skip


def test_add_user_writes_a_private_users_file_and_resets_a_secret(tmp_path: Path):
    users = tmp_path / "reviewers"
    r = livegate("console", "add-user", "alice", "--users", str(users), "--password-stdin",
                 stdin="first-secret\n")  # fmt: skip
    assert r.returncode == 0 and "alice can sign in" in r.stdout
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    livegate("console", "add-user", "bob", "--users", str(users), "--password-stdin",
             stdin="bobs-secret\n")  # fmt: skip
    livegate("console", "add-user", "alice", "--users", str(users), "--password-stdin",
             stdin="second-secret\n")  # fmt: skip
    loaded = load_users(users)
    assert sorted(loaded.hashes) == ["alice", "bob"]
    assert loaded.check("alice", "second-secret") and not loaded.check("alice", "first-secret")
    assert "second-secret" not in users.read_text()


def test_hash_password_prints_a_hash_of_the_secret():
    r = livegate("console", "hash-password", "--password-stdin", stdin="some-secret\n")
    assert r.returncode == 0 and verify_password("some-secret", r.stdout.strip())


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("console", "add-user", "b ob", "--users", "{f}", "--password-stdin"), "long-secret",
         "a reviewer id is 1-64 of"),
        (("console", "add-user", "bob", "--users", "{f}", "--password-stdin"), "short",
         "a secret needs at least 8 characters"),
        (("console", "--users", "{f}"), "", "cannot read the users file"),
        (("console", "--users", "{bad}"), "", "line 1: expected reviewer_id:scrypt$"),
        (("console",), "", "no users file: give --users FILE or set LIVEGATE_CONSOLE_USERS"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, args, stdin: str, message: str):
    bad = tmp_path / "bad"
    bad.write_text("alice:plaintext\n")
    argv = [a.format(f=tmp_path / "missing", bad=bad) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "LIVEGATE_CONSOLE_USERS"}
    r = livegate(*argv, stdin=stdin, env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("livegate: error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
