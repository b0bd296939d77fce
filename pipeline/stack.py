"""The local stack: Apache Kafka (KRaft, from Maven Central jars) and redis-server, as processes.

No Docker engine runs on the development and CI machines, so the stack is plain processes
whose pids are kept in the stack directory; `down` stops only those.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

import redis

from pipeline import kafkautil
from pipeline.domain.errors import LiveGateError
from pipeline.settings import REPO_ROOT, Settings

KAFKA_CONFIG = REPO_ROOT / "config" / "kafka"


class StackError(LiveGateError):
    """The local stack could not be started or inspected."""


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    running: bool
    address: str
    data_dir: Path


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise StackError(f"`{binary}` not found: install it (apt-get install {package})")
    return path


def _alive(pid_file: Path, marker: str) -> int | None:
    """The pid in pid_file if that process runs and is ours (its command line has marker)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        return None
    state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[-1][:1]
    if marker.encode() not in cmdline or state == "Z":
        return None
    return pid


class LocalStack:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.dir = settings.stack_dir
        self.kafka_dir = self.dir / "kafka"
        self.redis_dir = self.dir / "redis"
        self.libs = settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs"

    # ---- status -------------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.s.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.s.redis_port}/0"

    def status(self) -> list[ProcessStatus]:
        kpid = _alive(self.kafka_dir / "kafka.pid", "kafka.Kafka")
        rpid = _alive(self.redis_dir / "redis.pid", "redis-server")
        return [
            ProcessStatus("kafka", kpid, kpid is not None, self.kafka_bootstrap, self.kafka_dir),
            ProcessStatus("redis", rpid, rpid is not None, self.redis_url, self.redis_dir),
        ]

    # ---- up -----------------------------------------------------------------------------
    def up(self, partitions: int | None = None, timeout_s: float = 90.0) -> list[str]:
        """Start what is not running, wait until both answer, create the topics. Idempotent."""
        java = _require("java", "openjdk-17-jre-headless")
        _require("redis-server", "redis-server")
        self.dir.mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        # A brand-new stack has a complete (empty) certification table (CONTRACT §3); the
        # marker is written once, so an emptied Redis on an old stack is never marked.
        marker = self.dir / "initialized"
        if _alive(self.redis_dir / "redis.pid", "redis-server") is None:
            self._start_redis()
            notes.append(f"redis started on {self.redis_url}")
        if _alive(self.kafka_dir / "kafka.pid", "kafka.Kafka") is None:
            self._fetch_kafka()
            self._start_kafka(java)
            notes.append(f"kafka {self.s.kafka_version} started on {self.kafka_bootstrap}")
        self._wait_redis(timeout_s)
        client = redis.Redis.from_url(self.redis_url)
        try:
            if not marker.exists():
                client.set(self.s.loaded_key, str(int(time.time() * 1000)), nx=True)
        finally:
            client.close()
        try:
            asyncio.run(kafkautil.wait_for_kafka(self.kafka_bootstrap, timeout_s))
        except TimeoutError as exc:
            raise StackError(f"{exc}; see {self.kafka_dir / 'logs' / 'server.log'}") from None
        created = asyncio.run(
            kafkautil.ensure_topics(
                self.kafka_bootstrap, kafkautil.contract_topics(self.s, partitions)
            )
        )
        if created:
            notes.append(f"created {len(created)} topics")
        marker.touch()
        return notes

    def _fetch_kafka(self) -> None:
        if self.libs.is_dir() and any(self.libs.glob("kafka_2.13-*.jar")):
            return
        mvn = _require("mvn", "maven")
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(KAFKA_CONFIG / "pom.xml"),
            "dependency:copy-dependencies", f"-Dkafka.version={self.s.kafka_version}",
            f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise StackError("Maven could not fetch Kafka: " + " | ".join(tail))

    def _start_kafka(self, java: str) -> None:
        logs = self.kafka_dir / "logs"
        data = self.kafka_dir / "data"
        logs.mkdir(parents=True, exist_ok=True)
        props = self.kafka_dir / "server.properties"
        props.write_text(
            Template((KAFKA_CONFIG / "server.properties").read_text()).substitute(
                port=self.s.kafka_port,
                controller_port=self.s.kafka_controller_port,
                log_dirs=data,
                partitions=self.s.partitions,
            )
        )
        classpath = f"{self.libs}/*"
        log4j = f"-Dlog4j.configuration=file:{KAFKA_CONFIG / 'log4j.properties'}"
        jvm = [java, f"-Xmx{self.s.kafka_heap}", f"-Xms{self.s.kafka_heap}", "-XX:+UseG1GC",
               "-XX:MaxGCPauseMillis=20", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
               f"-Dkafka.logs.dir={logs}", log4j, "-cp", classpath]  # fmt: skip
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {fmt.stderr.strip()[-500:]}")
        pid = _daemon([*jvm, "kafka.Kafka", str(props)], logs / "stdout.log", self.kafka_dir)
        (self.kafka_dir / "kafka.pid").write_text(str(pid))

    def _start_redis(self) -> None:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            "redis-server", "--port", str(self.s.redis_port), "--bind", "127.0.0.1",
            "--dir", str(self.redis_dir), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--daemonize", "no", "--logfile", str(self.redis_dir / "redis.log"),
        ]  # fmt: skip
        pid = _daemon(cmd, self.redis_dir / "stdout.log", self.redis_dir)
        (self.redis_dir / "redis.pid").write_text(str(pid))

    def _wait_redis(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.redis_url, socket_timeout=1)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError as exc:
                    if time.monotonic() > deadline:
                        raise StackError(f"redis did not answer PING: {exc}") from None
                time.sleep(0.1)
        finally:
            client.close()

    # ---- down ---------------------------------------------------------------------------
    def down(self, wipe: bool = False, timeout_s: float = 30.0) -> list[str]:
        notes = []
        for pid_file, marker in (
            (self.kafka_dir / "kafka.pid", "kafka.Kafka"),
            (self.redis_dir / "redis.pid", "redis-server"),
        ):
            pid = _alive(pid_file, marker)
            if pid is not None:
                _stop(pid, timeout_s)
                notes.append(f"stopped {marker.split('.')[0]} (pid {pid})")
            pid_file.unlink(missing_ok=True)
        if wipe and self.dir.exists():
            shutil.rmtree(self.dir)
            notes.append(f"wiped {self.dir}")
        return notes

    def stop_one(self, name: str) -> None:
        """Stop one service (fault tests): 'kafka' or 'redis'."""
        pid_file, marker = {
            "kafka": (self.kafka_dir / "kafka.pid", "kafka.Kafka"),
            "redis": (self.redis_dir / "redis.pid", "redis-server"),
        }[name]
        pid = _alive(pid_file, marker)
        if pid is not None:
            _stop(pid, 30.0)


def _daemon(cmd: list[str], log: Path, cwd: Path) -> int:
    """Start cmd detached (own session, parent init), output appended to log; its pid."""
    launcher = 'log=$1; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'
    out = subprocess.run(
        ["sh", "-c", launcher, "sh", str(log), *cmd], capture_output=True, text=True,
        check=True, start_new_session=True, cwd=cwd,
    )  # fmt: skip
    return int(out.stdout.strip())


def _stop(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[-1][:1] == "Z"
    except OSError:
        return True
