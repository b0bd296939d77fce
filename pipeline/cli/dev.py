"""`livegate dev` (what `make dev` runs): the local stack, a worker, the simulator, and the
actions as they happen. Ctrl-C stops the worker and the simulator; the stack keeps running."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.adapters.settings import REPO_ROOT, Settings
from pipeline.cli.tail import follow
from pipeline.ops.stack import LocalStack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dev", help="stack + worker + simulator, showing actions live")
    p.add_argument("--rate", type=float, default=20.0, help="simulated events per second")
    p.add_argument("--creators", type=int, default=200)
    p.add_argument("--logs", type=Path, default=REPO_ROOT / ".livegate" / "dev",
                   help="where the worker's and the simulator's logs go (appended to; "
                        "default .livegate/dev)")  # fmt: skip
    p.set_defaults(handler=_dev)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *args], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=REPO_ROOT,
        )  # fmt: skip


def _log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def _wait_ready(
    worker: subprocess.Popen[bytes], log: Path, since: int = 0, timeout: float = 90
) -> None:
    """Wait for the worker's "Ready" in its log after byte `since` (the log is appended to
    by every run: an earlier run's "Ready" is not this worker's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            tail = log.read_bytes()[since:][-2000:].decode("utf-8", "replace")
            raise SystemExit(f"the worker exited; see {log}:\n{tail}")
        if b"Worker]: Ready" in log.read_bytes()[since:]:
            return
        time.sleep(0.2)
    raise SystemExit(f"the worker did not become ready in {timeout:.0f}s; see {log}")


def _dev(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    stack = LocalStack(settings)
    print("livegate dev: bringing the local stack up …", flush=True)
    for note in stack.up():
        print(f"  {note}", flush=True)
    # The simulator's certifications are the table here; the stack marks it loaded for the
    # default Redis prefix when first made, and this does for any other (LIVEGATE_REDIS_PREFIX):
    # otherwise the worker would hold every batch, waiting for an import nobody runs.
    stack.mark_loaded()
    logs = args.logs
    logs.mkdir(parents=True, exist_ok=True)
    worker_log, sim_log = logs / "worker.log", logs / "simulate.log"
    children: list[subprocess.Popen[bytes]] = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        since = _log_size(worker_log)
        worker = _spawn(["worker", "--loglevel", "info"], worker_log)
        children.append(worker)
        print(f"livegate dev: worker starting (log: {worker_log}) …", flush=True)
        _wait_ready(worker, worker_log, since)
        children.append(_spawn(["simulate", "--rate", str(args.rate), "--creators",
                                str(args.creators), "--duration", "0"], sim_log))  # fmt: skip
        print(f"livegate dev: simulating {args.creators} creators at {args.rate:g} events/s "
              f"(log: {sim_log}); actions follow. Ctrl-C stops.\n", flush=True)  # fmt: skip
        asyncio.run(follow(settings, "actions", from_beginning=False))
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
        print("\nlivegate dev: stopped the worker and the simulator; the stack still runs "
              "(`livegate stack down` stops it).")  # fmt: skip
    return 0
