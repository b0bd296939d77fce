"""The measured processes: each system runs in its own process, started and stopped here,
with its log in the run's directory, its peak memory and its Prometheus metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.settings import REPO_ROOT
from pipeline.adapters.threadnames import CONSUMER, DELIVERIES
from pipeline.bench.kafkaio import BenchError

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used (/proc/<pid>/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return _stat_cpu(stat)


def _stat_cpu(stat: str) -> float:
    """User + system CPU seconds from a /proc `stat` line (a process's or a thread's)."""
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


# A worker's threads, grouped by what they do (their OS names: adapters/threadnames.py).
THREAD_GROUPS = ("event loop", "consumer", "librdkafka", "other")


def thread_group(pid: int, tid: int, comm: str) -> str:
    if tid == pid:
        return "event loop"  # the main thread: the worker's event loop
    if comm == CONSUMER:
        return "consumer"
    if comm == DELIVERIES or comm.startswith("rdk:"):
        return "librdkafka"
    return "other"  # RocksDB's, the event loop's resolver, ...


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds used so far by the process's live threads, by `THREAD_GROUPS`."""
    out = dict.fromkeys(THREAD_GROUPS, 0.0)
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        comm = stat.partition("(")[2].rpartition(")")[0]
        out[thread_group(pid, int(tid), comm)] += _stat_cpu(stat)
    return out


def listener_pid(port: int) -> int | None:
    """The pid of the local process listening on a TCP port (the broker), if any is seen."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic seconds
    cpu: dict[str, float]  # name -> CPU seconds so far
    done: int  # outputs so far


class CpuMeter:
    """CPU seconds of some named processes between two samples of a phase.

    Either `start` and `stop` at chosen moments, or `sample` at every poll of the output:
    the window then starts at the first sample that sees output (start-up excluded), or,
    for a phase so short that most of it passed before that, at the last sample before any.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: Sample | None = None
        self.first: Sample | None = None
        self.last: Sample | None = None

    def _read(self, done: int) -> Sample:
        cpu = {k: cpu_seconds(p) or 0.0 for k, p in self.pids.items()}
        return Sample(time.monotonic(), cpu, done)

    def start(self, done: int = 0) -> None:
        self.first = self._read(done)

    def stop(self, done: int) -> None:
        self.last = self._read(done)

    def sample(self, done: int) -> None:
        now = self._read(done)
        if done == 0:
            self.before = now
        elif self.first is None:
            self.first = now
        self.last = now

    def window(self) -> tuple[Sample, Sample] | None:
        start, end = self.first, self.last
        if start is None or end is None:
            return None
        if end.done - start.done < end.done / 2 and self.before is not None:
            start = self.before
        return (start, end) if end.done > start.done else None

    def figures(self, system: list[str]) -> dict[str, Any]:
        """CPU per event of the `system` processes together and of the broker, if metered."""
        window = self.window()
        if window is None:
            return {"cpu_events": 0, "cpu_seconds": None, "cpu_wall_s": None,
                    "cpu_util": None, "cpu_us_per_event": None,
                    "broker_cpu_seconds": None, "broker_cpu_us_per_event": None}  # fmt: skip
        start, end = window
        events, wall = end.done - start.done, end.at - start.at

        def used(key: str) -> float:
            return max(0.0, end.cpu[key] - start.cpu[key])

        cpu = sum(used(k) for k in system)
        broker = used("broker") if "broker" in self.pids else None
        return {
            "cpu_events": events,
            "cpu_seconds": cpu,
            "cpu_wall_s": wall,
            "cpu_util": cpu / wall if wall > 0 else None,  # cores busy, on average
            "cpu_us_per_event": cpu / events * 1e6 if cpu > 0 else None,
            "broker_cpu_seconds": broker,
            "broker_cpu_us_per_event": broker / events * 1e6 if broker else None,
        }

    def used(self, key: str) -> float:
        window = self.window()
        if window is None:
            return 0.0
        start, end = window
        return max(0.0, end.cpu[key] - start.cpu[key])


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

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return _status_mb(self.pid, "VmRSS:")

    def peak_rss_mb(self) -> float:
        return _status_mb(self.pid, "VmHWM:")

    def kill(self) -> None:
        """kill -9: a crash, nothing flushed."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    async def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.popen.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(10)


def _status_mb(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS: now, VmHWM: peak), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


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
