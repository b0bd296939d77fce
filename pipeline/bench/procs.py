"""The measured processes: each system runs in its own process, started and stopped here,
with its log in the run's directory, its peak memory and its Prometheus metrics."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline.adapters.settings import REPO_ROOT
from pipeline.bench.kafkaio import BenchError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child `python -m …` process with its log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.port = 0  # its HTTP port, for a worker
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", *args], env=env, cwd=REPO_ROOT, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check(self) -> None:
        """Raise if the process has exited (a measured system must not stop by itself)."""
        code = self.popen.poll()
        if code is not None:
            raise BenchError(
                f"{self.name} exited with code {code}; its log ({self.log}) ends:\n{self.tail()}"
            )

    def peak_rss_mb(self) -> float:
        """VmHWM: the process's peak resident set size so far."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.popen.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(10)


def scrape(port: int) -> dict[str, float]:
    """Prometheus text from the worker's /metrics: each metric's samples summed over labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            sums[name] = sums.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return sums
