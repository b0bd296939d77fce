"""The secure local stack: Kafka SASL/SCRAM over TLS, Redis ACL user, worker bearer token.

One secure stack (`livegate stack up --secure`) on free ports in a temporary directory for
the whole module, wiped at the end. Wrong passwords are refused in one clear line, and no
secret appears in any output or log.
"""

from __future__ import annotations

import asyncio
import os
import stat
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from pipeline.adapters.settings import Settings
from tests.conftest import ROOT
from tests.helpers import Worker, event, free_port, produce, read_all, run_cli, wait_for

pytestmark = pytest.mark.integration

TOKEN = "web-token-" + uuid.uuid4().hex
WRONG = "wrong-password-" + uuid.uuid4().hex[:8]
KAFKA_REFUSED = "Kafka refused the credentials for user 'livegate'"
REDIS_REFUSED = "Redis refused the credentials for user 'livegate'"


@dataclass
class Secure:
    env: dict[str, str]  # everything a client needs, secrets included
    settings: Settings
    kafka_password: str
    redis_password: str
    up_output: str

    @property
    def secrets(self) -> list[str]:
        return [self.kafka_password, self.redis_password, TOKEN]

    def with_env(self, **changes: str) -> dict[str, str]:
        return {**self.env, **changes}


def read_secrets(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    stack_dir = tmp_path_factory.mktemp("secure") / "stack"
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIVEGATE_")}
    stack_env = {
        **base,
        "LIVEGATE_STACK_DIR": str(stack_dir),
        "LIVEGATE_KAFKA_PORT": str(free_port()),
        "LIVEGATE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LIVEGATE_KAFKA_INTERNAL_PORT": str(free_port()),
        "LIVEGATE_REDIS_PORT": str(free_port()),
        "LIVEGATE_PARTITIONS": "2",
    }
    try:
        up = run_cli(stack_env, "stack", "up", "--secure")
        assert up.returncode == 0, up.stdout + up.stderr
        found = read_secrets(stack_dir / "secrets.env")
        env = {
            **stack_env,
            **found,
            "LIVEGATE_KAFKA_BOOTSTRAP": f"127.0.0.1:{stack_env['LIVEGATE_KAFKA_PORT']}",
            "LIVEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LIVEGATE_KAFKA_SASL_USERNAME": "livegate",
            "LIVEGATE_KAFKA_SSL_CAFILE": str(stack_dir / "tls" / "ca.pem"),
        }
        settings = Settings.from_env(env)
        redis_password = settings.redis_url.reveal().split(":")[2].split("@")[0]
        yield Secure(
            env, settings, found["LIVEGATE_KAFKA_SASL_PASSWORD"], redis_password,
            up.stdout + up.stderr,
        )  # fmt: skip
    finally:
        down = run_cli(stack_env, "stack", "down", "--wipe")
        assert down.returncode == 0, down.stderr
    assert not stack_dir.exists()


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_secure_stack_prints_no_secret_and_keeps_them_private(secure: Secure):
    stack_dir = Path(secure.env["LIVEGATE_STACK_DIR"])
    assert "SASL_SSL" in secure.up_output and "secrets.env" in secure.up_output
    assert "export LIVEGATE_KAFKA_SSL_CAFILE=" in secure.up_output
    assert_no_secret(secure.up_output, *secure.secrets)
    status = run_cli(secure.env, "stack", "status")
    assert status.returncode == 0 and "secrets.env" in status.stdout
    assert_no_secret(status.stdout + status.stderr, *secure.secrets)
    help_text = run_cli(secure.env, "stack", "up", "--help")
    assert_no_secret(help_text.stdout, *secure.secrets)
    for private in ("secrets.env", "redis/users.acl", "tls/ca.key", "tls/broker-keystore.pem"):
        assert stat.S_IMODE((stack_dir / private).stat().st_mode) == 0o600, private
    # Nothing listens without credentials: Redis refuses the default user.
    plain = redis.Redis(port=int(secure.env["LIVEGATE_REDIS_PORT"]))
    with pytest.raises(redis.exceptions.AuthenticationError):
        plain.ping()
    plain.close()


def test_certs_grant_with_the_right_credentials(secure: Secure):
    creator = f"sec-{uuid.uuid4().hex[:8]}"
    done = run_cli(
        secure.env, "certs", "grant", creator, "health", "--license", "L-1",
        "--issuer", "NHC", "--valid-until", "2099-01-01", "--profession", "physician",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_no_secret(done.stdout + done.stderr, *secure.secrets)
    client = redis.Redis.from_url(secure.settings.redis_url.reveal())
    assert client.hget(secure.settings.cert_prefix + creator, "health") is not None
    client.close()
    records = asyncio.run(read_all(secure.settings, secure.settings.topics.certs))
    assert any(r.get("creator_id") == creator for r in records)


def test_wrong_kafka_password_is_refused_in_one_clear_line(secure: Secure):
    env = secure.with_env(LIVEGATE_KAFKA_SASL_PASSWORD=WRONG)
    done = run_cli(
        env, "certs", "grant", "nobody", "health", "--license", "L-1", "--issuer", "NHC",
        "--valid-until", "2099-01-01",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"livegate: error: {KAFKA_REFUSED} (SASL")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert_no_secret(done.stdout + done.stderr, WRONG, *secure.secrets)


def test_wrong_redis_password_is_refused_in_one_clear_line(secure: Secure):
    url = f"redis://livegate:{WRONG}@127.0.0.1:{secure.env['LIVEGATE_REDIS_PORT']}/0"
    env = secure.with_env(LIVEGATE_REDIS_URL=url)
    for args in (
        ("certs", "grant", "nobody", "health", "--license", "L-1", "--issuer", "NHC",
         "--valid-until", "2099-01-01"),
        ("certs", "show", "nobody"),
    ):  # fmt: skip
        done = run_cli(env, *args)
        assert done.returncode == 1
        assert done.stderr.startswith(f"livegate: error: {REDIS_REFUSED}"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert_no_secret(done.stdout + done.stderr, WRONG, *secure.secrets)


def test_worker_with_a_wrong_password_stops_at_start_in_one_line(secure: Secure):
    env = secure.with_env(LIVEGATE_KAFKA_SASL_PASSWORD=WRONG)
    done = run_cli(env, "worker", "--web-port", str(free_port()), timeout=60)
    assert done.returncode == 1
    assert KAFKA_REFUSED in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_secret(done.stdout + done.stderr, WRONG, *secure.secrets)


async def test_worker_decides_end_to_end_and_the_creator_view_needs_the_token(secure: Secure):
    log = ROOT / ".livegate" / "test-logs" / f"worker-secure-{uuid.uuid4().hex[:8]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    worker = Worker(secure.with_env(LIVEGATE_WEB_TOKEN=TOKEN), port, log).start()
    try:
        await asyncio.to_thread(worker.wait_ready, 90)
        s, creator = secure.settings, f"sec-{uuid.uuid4().hex[:8]}"
        actions = await cut_off(s, creator)
        assert any(a["rule_id"] == "live.unqualified" for a in actions)

        url = f"http://127.0.0.1:{port}/creators/{creator}"
        assert await asyncio.to_thread(status_of, url, None) == 401
        assert await asyncio.to_thread(status_of, url, "Bearer wrong") == 401
        assert await asyncio.to_thread(status_of, url, f"Bearer {TOKEN}") == 200
        # Prometheus scrapes /metrics without a token.
        assert await asyncio.to_thread(status_of, f"http://127.0.0.1:{port}/metrics", None) == 200

        # A second worker: one of the two forwards the request to the partition's owner,
        # with the Authorization header (the owner checks it).
        port2 = free_port()
        log2 = log.with_name(log.stem + "-2.log")
        second = Worker(secure.with_env(LIVEGATE_WEB_TOKEN=TOKEN), port2, log2).start()
        try:
            await asyncio.to_thread(second.wait_ready, 90)
            urls = [f"http://127.0.0.1:{p}/creators/{creator}" for p in (port, port2)]
            await wait_until_ok(urls, f"Bearer {TOKEN}", timeout=60)
            for u in urls:
                assert await asyncio.to_thread(status_of, u, None) == 401
        finally:
            second.stop()
        assert_no_secret(log2.read_text(errors="replace"), *secure.secrets)
    finally:
        worker.stop()
    text = log.read_text(errors="replace")
    assert "Worker]: Ready" in text
    assert_no_secret(text, *secure.secrets)


async def cut_off(s: Settings, creator: str) -> list:
    """An unqualified health stream of the creator; the actions once it is cut off."""
    stream = event("stream_started", creator, f"{creator}-e1", stream_id="s1",
                   category="health")  # fmt: skip
    await produce(s, s.topics.live, [(creator.encode(), stream)])
    return await wait_for(
        s, s.topics.actions,
        lambda rs: any(r.get("creator_id") == creator and
                       r["action"] == "cut_off_stream" for r in rs),
        timeout=60,
    )  # fmt: skip


async def wait_until_ok(urls: list[str], authorization: str, timeout: float) -> None:
    """Until every URL answers 200 (after the rebalance, both workers know the owner)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        codes = [await asyncio.to_thread(status_of, u, authorization) for u in urls]
        if all(c == 200 for c in codes):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"creator view answers {codes} with the token")
        await asyncio.sleep(0.5)


def status_of(url: str, authorization: str | None) -> int:
    request = urllib.request.Request(url)
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_each_role_principal_may_write_only_its_topics(secure: Secure):
    """CONTRACT §12: Kafka ACLs keep other writers off the topics. The appeal intake may
    file appeals on moderation.reviews and nothing else: enforcement.decisions refuses it;
    the console's principal writes its verdicts to moderation.reviews."""
    import dataclasses

    from aiokafka.errors import TopicAuthorizationFailedError

    from pipeline.adapters.settings import Secret
    from pipeline.ops.acls import PRINCIPALS, password_var

    def as_role(role: str) -> Settings:
        return dataclasses.replace(
            secure.settings, kafka_sasl_username=PRINCIPALS[role],
            kafka_sasl_password=Secret(secure.env[password_var(role)]),
        )  # fmt: skip

    s, creator = secure.settings, f"acl-{uuid.uuid4().hex[:8]}"
    appeal = event("appeal_filed", creator, f"{creator}-ap", appeal_id="a1", action_id="0" * 64)
    forged = {"decision_id": "f" * 64, "event_id": "x", "creator_id": creator}
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(
            produce(as_role("intake"), s.topics.decisions, [(creator.encode(), forged)]), 60
        )
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(
            produce(as_role("console"), s.topics.certs, [(creator.encode(), forged)]), 60
        )
    await produce(as_role("intake"), s.topics.reviews, [(creator.encode(), appeal)])
    verdict = event("review_decided", creator, f"{creator}-v", review_id="f" * 64,
                    verdict="confirm", reviewer_id="alice")  # fmt: skip
    await produce(as_role("console"), s.topics.reviews, [(creator.encode(), verdict)])
    records = await wait_for(
        s, s.topics.reviews, lambda rs: sum(r.get("creator_id") == creator for r in rs) == 2
    )
    assert {r["event_id"] for r in records if r.get("creator_id") == creator} == {
        f"{creator}-ap", f"{creator}-v",
    }  # fmt: skip
    decisions = await read_all(s, s.topics.decisions)
    assert not [d for d in decisions if d.get("creator_id") == creator and d["event_id"] == "x"]


async def test_a_worker_runs_as_its_own_principal(secure: Secure):
    """The worker's grants (pipeline/ops/acls.py) are enough to decide end to end."""
    from pipeline.ops.acls import PRINCIPALS, password_var

    env = secure.with_env(
        LIVEGATE_KAFKA_SASL_USERNAME=PRINCIPALS["worker"],
        LIVEGATE_KAFKA_SASL_PASSWORD=secure.env[password_var("worker")],
        LIVEGATE_APP_ID="livegate",  # its grants cover the app id's topics and group
    )
    log = ROOT / ".livegate" / "test-logs" / f"worker-acl-{uuid.uuid4().hex[:8]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker(env, free_port(), log).start()
    try:
        await asyncio.to_thread(worker.wait_ready, 120)
        await cut_off(secure.settings, f"aclw-{uuid.uuid4().hex[:8]}")
    finally:
        worker.stop()
