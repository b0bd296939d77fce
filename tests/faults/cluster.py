"""A three-node KRaft cluster for the replication scenario: each node broker and controller,
plain processes like the local stack's broker (its jars, JVM options and process helpers),
on ports the OS chooses (LIVEGATE_TEST_CLUSTER_PORT: six from there). Replicated as production
runs: every internal topic (offsets, transaction state) at 3 replicas, min.insync.replicas 2."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.adapters import kafka
from pipeline.ops.stack import daemon, kafka_jvm, new_cluster_id, stop_process
from tests.helpers import free_port

NODES = 3
PROPERTIES = """\
process.roles=broker,controller
node.id={node}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.network.threads=1
num.io.threads=1
background.threads=1
num.replica.fetchers=1
log.cleaner.threads=1
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
replica.lag.time.max.ms=10000
"""


def _ports() -> list[int]:
    base = os.environ.get("LIVEGATE_TEST_CLUSTER_PORT")
    if base:
        return [int(base) + i for i in range(2 * NODES)]
    return [free_port() for _ in range(2 * NODES)]


@dataclass
class Cluster:
    root: Path
    libs: Path
    ports: list[int] = field(default_factory=_ports)
    pids: dict[int, int] = field(default_factory=dict)

    def port(self, node: int) -> int:
        return self.ports[node - 1]

    def controller_port(self, node: int) -> int:
        return self.ports[NODES + node - 1]

    def log_tail(self, node: int) -> str:
        path = self.root / f"node{node}" / "logs" / "stdout.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def running(self, node: int) -> bool:
        pid = self.pids.get(node)
        return pid is not None and Path(f"/proc/{pid}").exists()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port(n)}" for n in range(1, NODES + 1))

    def _jvm(self, node: int) -> list[str]:
        logs = self.root / f"node{node}" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        java = shutil.which("java") or "java"
        return kafka_jvm(java, self.libs, "256m", logs)

    def start(self) -> None:
        voters = ",".join(f"{n}@127.0.0.1:{self.controller_port(n)}" for n in range(1, NODES + 1))
        cluster_id = new_cluster_id()
        for node in range(1, NODES + 1):
            home = self.root / f"node{node}"
            home.mkdir(parents=True, exist_ok=True)
            props = home / "server.properties"
            props.write_text(PROPERTIES.format(
                node=node, voters=voters, port=self.port(node),
                controller=self.controller_port(node), data=home / "data",
            ))  # fmt: skip
            fmt = [*self._jvm(node), "kafka.tools.StorageTool", "format", "-t", cluster_id,
                   "-c", str(props)]  # fmt: skip
            subprocess.run(fmt, capture_output=True, text=True, check=True)
        for node in range(1, NODES + 1):
            self.start_node(node)

    def start_node(self, node: int) -> None:
        home = self.root / f"node{node}"
        cmd = [*self._jvm(node), "kafka.Kafka", str(home / "server.properties")]
        self.pids[node] = daemon(cmd, home / "logs" / "stdout.log", home)

    def stop_node(self, node: int) -> None:
        stop_process(self.pids.pop(node), 30.0)

    def stop(self) -> None:
        for node in list(self.pids):
            self.stop_node(node)

    async def wait_for_brokers(self, count: int, timeout_s: float = 120) -> None:
        await kafka.wait_for_kafka(self.bootstrap, timeout_s)
        from aiokafka.admin import AIOKafkaAdminClient

        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                brokers = (await admin.describe_cluster())["brokers"]
            finally:
                await admin.close()
            if len(brokers) >= count:
                return
            dead = [n for n in self.pids if not self.running(n)]
            if dead or asyncio.get_running_loop().time() > deadline:
                logs = "\n".join(f"node {n}: {self.log_tail(n)}" for n in dead or self.pids)
                raise AssertionError(f"only {len(brokers)} of {count} brokers joined\n{logs}")
            await asyncio.sleep(1)
