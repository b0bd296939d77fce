"""Every command with Kafka or Redis unreachable: one line naming the service, its address
and what to do; exit code 1; no traceback and no aiokafka log line before it (issue 14)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pipeline.adapters.kafka import contract_topics, ensure_topics
from pipeline.adapters.settings import Settings
from tests.conftest import isolated_env
from tests.helpers import ROOT, free_port, run_cli

pytestmark = pytest.mark.e2e

CSV = "creator_id,domain,license_id,issuer,valid_from,valid_until,profession\n"
GRANT = ["certs", "grant", "c1", "health", "--license", "L", "--issuer", "I",
         "--valid-until", "2099-01-01"]  # fmt: skip
COMMANDS = {
    "worker": ["worker", "--web-port", "0"],
    "tail": ["tail"],
    "replay verify": ["replay", "verify", "--from", "2024-01-01"],
    "replay whatif": [
        "replay",
        "whatif",
        "--from",
        "2024-01-01",
        "--policy",
        str(ROOT / "config" / "policy.yaml"),
        "--no-progress",
    ],
    "breaker release": ["breaker", "release", "--from", "2024-01-01", "--to", "2024-02-01"],
    "certs show": ["certs", "show", "c1"],
    "certs rebuild": ["certs", "rebuild"],
    "certs reconcile": ["certs", "reconcile"],
    "certs grant": GRANT,
    "certs revoke": ["certs", "revoke", "c1", "health", "--reason", "r"],
    "certs import": ["certs", "import", "{csv}", "--as-of", "2024-06-01"],
    "bench": ["bench", "--quick"],
    "simulate": ["simulate", "--duration", "1", "--quiet"],
    "topics create": ["topics", "create"],
}
# Commands that need Redis: also tried with a reachable Kafka and an unreachable Redis.
NEEDS_REDIS = ["worker", "certs show", "certs grant", "certs revoke", "certs import",
               "certs rebuild", "certs reconcile", "bench", "simulate"]  # fmt: skip


def _args(name: str, tmp_path) -> list[str]:
    csv = tmp_path / "certs.csv"
    csv.write_text(CSV + "c1,health,L1,NHC,2024-01-01,2099-01-01,physician\n")
    return [a.replace("{csv}", str(csv)) for a in COMMANDS[name]]


def _assert_one_line(r, service: str, address: str) -> None:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"livegate: error: cannot reach {service} at {address}"), lines
    assert "livegate stack up" in lines[0]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_both_unreachable(name, stack_env, uid, tmp_path):
    kafka_port, redis_port = free_port(), free_port()
    env = isolated_env(stack_env, uid)
    env["LIVEGATE_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{kafka_port}"
    env["LIVEGATE_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    r = run_cli(env, *_args(name, tmp_path), timeout=60)
    lines = r.stderr.strip().splitlines()
    service = "Redis" if lines and "Redis" in lines[-1] else "Kafka"
    address = f"127.0.0.1:{redis_port if service == 'Redis' else kafka_port}"
    _assert_one_line(r, service, address)


@pytest.fixture(scope="module")
def topics_uid(stack_env) -> str:
    """One set of topics for the module: the broker is shared, topics are not free."""
    uid = uuid.uuid4().hex[:10]
    settings = Settings.from_env(isolated_env(stack_env, uid))
    asyncio.run(ensure_topics(settings, contract_topics(settings)))
    return uid


@pytest.mark.parametrize("name", NEEDS_REDIS)
def test_redis_unreachable(name, stack_env, topics_uid, tmp_path):
    redis_port = free_port()
    env = isolated_env(stack_env, topics_uid)
    env["LIVEGATE_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env["LIVEGATE_WEB_PORT"] = str(free_port())
    r = run_cli(env, *_args(name, tmp_path), timeout=60)
    _assert_one_line(r, "Redis", f"127.0.0.1:{redis_port}")


def test_stack_status_with_nothing_running_is_a_table_not_a_traceback(stack_env, tmp_path):
    env = {**isolated_env(stack_env, "none"), "LIVEGATE_STACK_DIR": str(tmp_path / "stack"),
           "LIVEGATE_KAFKA_PORT": str(free_port()), "LIVEGATE_REDIS_PORT": str(free_port()),
           "LIVEGATE_KAFKA_CONTROLLER_PORT": str(free_port())}  # fmt: skip
    r = run_cli(env, "stack", "status")
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    assert [line.split()[:2] for line in r.stdout.splitlines()] == [
        ["kafka", "stopped"], ["redis", "stopped"]
    ]  # fmt: skip
