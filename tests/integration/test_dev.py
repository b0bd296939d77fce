"""`livegate dev` (what `make dev` runs): the stack, a worker, the simulator and the actions as
they happen, until Ctrl-C; against the real broker and Redis, on the test's own topics."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import isolated_env
from tests.helpers import LIVEGATE, free_port

pytestmark = pytest.mark.integration

# The labels `livegate dev` prints actions under (pipeline/cli/tail.py).
ACTION_LABELS = ("CUT OFF STREAM", "DEDUCT CREDIT", "WARN ", "LIMIT RECOMMENDATION")


def start_dev(env: dict[str, str], logs: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LIVEGATE, "dev", "--rate", "20", "--creators", "40", "--logs", str(logs), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def read_until(proc: subprocess.Popen[str], done, timeout: float) -> list[str]:
    """Lines of the process's output until `done(line)` or the process exits or the time
    is up."""
    assert proc.stdout is not None
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.5):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if done(line):
            break
    return lines


def test_dev_shows_actions_as_they_happen_and_ctrl_c_stops_the_worker_and_simulator(
    stack_env, uid, tmp_path
):
    env = {**isolated_env(stack_env, uid), "LIVEGATE_DATA_DIR": str(tmp_path / "data"),
           "LIVEGATE_WEB_PORT": str(free_port())}  # fmt: skip
    proc = start_dev(env, tmp_path / "logs")
    try:
        lines = read_until(proc, lambda line: any(a in line for a in ACTION_LABELS), 150)
        output = "".join(lines)
        assert any(a in output for a in ACTION_LABELS), output[-3000:]
        assert "simulating 40 creators at 20 events/s" in output
        assert (tmp_path / "logs" / "worker.log").exists()
        assert (tmp_path / "logs" / "simulate.log").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest[-3000:]
    assert "stopped the worker and the simulator" in rest
    assert "Traceback" not in output + rest


def test_dev_waits_for_its_own_worker_not_an_earlier_runs_ready_line(stack_env, uid, tmp_path):
    """The worker's log is appended to by every run: the "Ready" of an earlier run must not
    make dev go on while this run's worker has not started (here: it cannot, its port is
    taken), with traffic and a tail of actions no worker answers."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "worker.log").write_text(
        "[2026-12-01 10:00:00,000] [1] [INFO] faust.worker: [^Worker]: Ready\n"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**isolated_env(stack_env, uid), "LIVEGATE_DATA_DIR": str(tmp_path / "data"),
               "LIVEGATE_WEB_HOST": "127.0.0.1", "LIVEGATE_WEB_PORT": str(port)}  # fmt: skip
        proc = start_dev(env, logs)
        try:
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode != 0, out[-3000:]
    assert "the worker exited" in out
    assert f":{port} is already in use" in out  # the worker's own reason, from this run
    assert "simulating" not in out
    assert not (logs / "simulate.log").exists()
