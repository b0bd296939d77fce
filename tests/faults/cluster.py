"""A three-node KRaft cluster for the replication scenario: each node broker and controller,
plain processes like the local stack's broker (its jars, JVM options and process helpers),
on ports 39150-39155 unless LIVEGATE_TEST_CLUSTER_PORT moves them. Replicated as production
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


@dataclass
class Cluster:
    root: Path
    libs: Path
    base_port: int = int(os.environ.get("LIVEGATE_TEST_CLUSTER_PORT", "39150"))
    pids: dict[int, int] = field(default_factory=dict)

    def port(self, node: int) -> int:
        return self.base_port + node - 1

    def controller_port(self, node: int) -> int:
        return self.base_port + NODES + node - 1

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
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(brokers)} of {count} brokers joined")
            await asyncio.sleep(1)
