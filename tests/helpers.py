"""Test helpers that drive the real system: produce contract JSON, read what came out."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from pipeline.adapters.kafka import client_kwargs, read_topic
from pipeline.adapters.settings import Settings
from pipeline.domain.signing import SIGNED_TYPES, sign

ROOT = Path(__file__).resolve().parent.parent
LIVEGATE = str(ROOT / ".venv" / "bin" / "livegate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def own_stack_env(stack_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a local stack of the test's own (its directory, free ports, two
    partitions), with the clients' bootstrap and Redis URL pointing at it."""
    env = {
        **os.environ,
        "LIVEGATE_STACK_DIR": str(stack_dir),
        "LIVEGATE_KAFKA_PORT": str(free_port()),
        "LIVEGATE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LIVEGATE_REDIS_PORT": str(free_port()),
        "LIVEGATE_PARTITIONS": "2",
        **extra,
    }
    env["LIVEGATE_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{env['LIVEGATE_KAFKA_PORT']}"
    env["LIVEGATE_REDIS_URL"] = f"redis://127.0.0.1:{env['LIVEGATE_REDIS_PORT']}/0"
    return env


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def produce(
    settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | dict[str, Any]]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", **client_kwargs(settings)
    )
    await producer.start()
    try:
        for key, value in records:
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            await producer.send_and_wait(topic, raw, key=key)
    finally:
        await producer.stop()


def event(
    type_: str, creator: str, event_id: str, ts: int | None = None, *, unsigned: bool = False,
    **fields: Any,
) -> dict:  # fmt: skip
    """An input event; a signed type (CONTRACT §12) is signed with the dev verdict key as a
    `senior` reviewer unless `unsigned` (or `role` given otherwise)."""
    body = {
        "event_id": event_id,
        "type": type_,
        "ts": ts or now_ms(),
        "creator_id": creator,
        **fields,
    }
    return body if unsigned else signed(body)


def signed(body: dict[str, Any], key: tuple[str, str] | None = None) -> dict[str, Any]:
    """The event signed as the console signs it (dev key), when its type is a signed one."""
    if body.get("type") not in SIGNED_TYPES:
        return body
    return sign({"role": "senior", **body}, *(key or Settings().verdict_key))


async def read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record currently on a topic, decoded as JSON (value) with partition/offset."""
    partitions = await read_topic(settings, topic, required=False)
    return [
        Out(r.topic, r.partition, r.offset, r.key, json.loads(r.value or b"null"))
        for p in sorted(partitions)
        for r in partitions[p]
    ]


class Out(dict):
    """A record's JSON value, with where it was found."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: Any):
        super().__init__(value if isinstance(value, dict) else {"_value": value})
        self.topic, self.partition, self.offset, self.key = topic, partition, offset, key


async def wait_for(
    settings: Settings, topic: str, predicate: Callable[[list[Any]], bool], timeout: float = 20
) -> list[Any]:
    """Poll a topic until predicate(records) holds; fail with what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_all(settings, topic)
        if predicate(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out on {topic}; saw {len(records)}: {records[-10:]}")
        await asyncio.sleep(0.3)


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LIVEGATE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


class Worker:
    """A real `livegate worker` process."""

    def __init__(self, env: dict[str, str], web_port: int, log: Path) -> None:
        self.env = env
        self.web_port = web_port
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        # A restarted worker appends to its log: only what it writes counts (wait_ready).
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [LIVEGATE, "worker", "--web-port", str(self.web_port), "--loglevel", "info"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if b"Worker]: Ready" in self.log_path.read_bytes()[self.log_start :]:
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if hasattr(self, "log"):
            self.log.close()


def python() -> str:
    return os.environ.get("PYTHON", sys.executable)


def going_live_unqualified(creator: str) -> tuple[bytes, dict[str, Any]]:
    """A creator without qualifications starting a health stream: decided `enforce`."""
    body = event("stream_started", creator, f"{creator}-e1", stream_id="s1", category="health")
    return creator.encode(), body


def about(creator: str) -> Callable[[list[Any]], bool]:
    """A `wait_for` predicate: some record of the topic concerns the creator."""
    return lambda records: any(r.get("creator_id") == creator for r in records)
