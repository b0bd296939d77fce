"""A second worker on a taken web port: one line with the fix, exit 1, before Faust starts."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import isolated_env
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def held_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def assert_one_line_with_the_fix(done, port: int) -> None:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"livegate: error: the web port 127.0.0.1:{port} is already in use (another worker?): "
        "set LIVEGATE_WEB_PORT or pass --web-port to use another one"
    ], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_taken_web_port_from_the_flag(stack_env, uid, held_port):
    env = isolated_env(stack_env, uid)
    done = run_cli(env, "worker", "--web-port", str(held_port), timeout=60)
    assert_one_line_with_the_fix(done, held_port)


def test_taken_web_port_from_the_environment(stack_env, uid, held_port):
    env = {**isolated_env(stack_env, uid), "LIVEGATE_WEB_PORT": str(held_port)}
    done = run_cli(env, "worker", timeout=60)
    assert_one_line_with_the_fix(done, held_port)
