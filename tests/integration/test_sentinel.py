"""Redis behind Sentinel (`redis+sentinel://…/SERVICE/DB`): a master and a replica watched by
one redis-sentinel, started here on free ports. The certification table is read through the
master Sentinel names; after a failover the new master is found, and the worker-local cache
is dropped even when the new master's epoch reads the same (it could be behind)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.exceptions

from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.settings import Settings
from pipeline.engine.certcache import CertCache
from tests.conftest import ROOT
from tests.helpers import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("redis-sentinel") is None, reason="apt-get install redis-sentinel"
    ),
]
SERVICE = "lgtest"
CERT = (
    b'{"status":"active","license_id":"L1","issuer":"x","profession":null,"valid_from":0,'
    b'"valid_until":9999999999999,"updated_at":1,"event_id":"e1"}'
)


@dataclass
class Sentinelled:
    master: int
    replica: int
    sentinel: int
    procs: list[subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{SERVICE}/0"

    def current_master(self) -> int:
        with redis.Redis(port=self.sentinel) as s:
            return int(s.sentinel_get_master_addr_by_name(SERVICE)[1])


def wait(what: str, check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def pings(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_timeout=1) as r:
            return bool(r.ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(scope="module")
def sentinelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sentinelled]:
    where: Path = tmp_path_factory.mktemp("sentinel")
    master, replica, sentinel = free_port(), free_port(), free_port()
    log = ROOT / ".livegate" / "test-logs"
    log.mkdir(parents=True, exist_ok=True)
    procs = []

    def server(port: int, *extra: str) -> None:
        (where / str(port)).mkdir()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(where / str(port)), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip

    server(master)
    server(replica, "--replicaof", "127.0.0.1", str(master))
    conf = where / "sentinel.conf"
    conf.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {where}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 5000\n"
    )
    with open(log / "sentinel.log", "ab") as out:
        procs.append(subprocess.Popen(["redis-sentinel", str(conf)], stdout=out, stderr=out))
    s = Sentinelled(master, replica, sentinel, procs)
    try:
        for port in (master, replica, sentinel):
            wait(f"redis on {port}", lambda p=port: pings(p))
        with redis.Redis(port=master) as r:
            in_sync = lambda: r.info("replication").get("slave0", {}).get("state") == "online"  # noqa: E731
            wait("the replica in sync", in_sync)
        with redis.Redis(port=sentinel) as r:
            wait("sentinel to see the replica",
                 lambda: len(r.sentinel_slaves(SERVICE)) == 1)  # fmt: skip
        yield s
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


@pytest.fixture
async def store(sentinelled: Sentinelled) -> AsyncIterator[CertStore]:
    settings = Settings.from_env({"LIVEGATE_REDIS_URL": sentinelled.url})
    client = connect(settings)
    yield CertStore(client, settings)
    await client.aclose()


async def lookup_retrying(cache: CertCache, creators: set[str]) -> dict:
    """As the processor does: a lookup that fails across the failover is retried."""
    for _ in range(100):
        try:
            return await cache.get_many(creators)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.ReadOnlyError):  # fmt: skip
            await asyncio.sleep(0.2)
    raise AssertionError("no lookup succeeded after the failover")


async def test_the_table_is_read_through_the_master_sentinel_names_and_a_failover_drops_the_cache(
    sentinelled: Sentinelled, store: CertStore
):
    first = sentinelled.current_master()
    with redis.Redis(port=first) as r:
        r.hset("livegate:cert:c1", "health", CERT)
        r.set("livegate:cert-epoch", 7)
        r.set("livegate:cert-loaded", 1)
        assert r.wait(1, 15000) == 1  # the replica has it all
    cache = CertCache(store)
    found = await lookup_retrying(cache, {"c1"})
    assert found["c1"]["health"].license_id == "L1"
    assert cache.epoch == (f"127.0.0.1:{first}", 7)

    with redis.Redis(port=sentinelled.sentinel) as s:

        def failover_started() -> bool:
            try:
                return bool(s.execute_command("SENTINEL", "FAILOVER", SERVICE))
            except redis.exceptions.ResponseError as exc:  # NOGOODSLAVE: its view is not fresh
                if "NOGOODSLAVE" not in str(exc):
                    raise
                return False

        await asyncio.to_thread(wait, "a failover to start", failover_started)
    await asyncio.to_thread(wait, "the failover", lambda: sentinelled.current_master() != first)
    second = sentinelled.current_master()
    assert second == sentinelled.replica
    # The new master holds another value at the same epoch (as a replica behind would).
    with redis.Redis(port=second) as r:
        await asyncio.to_thread(wait, "the new master to accept writes",
                                lambda: r.info("replication")["role"] == "master")  # fmt: skip
        r.hset("livegate:cert:c1", "health", CERT.replace(b'"L1"', b'"L2"'))
        assert int(r.get("livegate:cert-epoch")) == 7

    # Sentinel demotes the old master shortly after; until then it answers as the master.
    with redis.Redis(port=first) as r:
        await asyncio.to_thread(wait, "the old master to be demoted",
                                lambda: r.execute_command("ROLE")[0] == b"slave")  # fmt: skip
    # The client's open connection is to the old master, which still answers reads: the
    # lookup's ROLE refuses them and the retry asks Sentinel.
    found = await lookup_retrying(cache, {"c1"})
    assert cache.epoch == (f"127.0.0.1:{second}", 7)
    assert found["c1"]["health"].license_id == "L2"  # not the cached L1
