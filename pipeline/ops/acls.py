"""Who may write which topic on the secure local stack (CONTRACT §12: Kafka ACLs keep other
writers off the topics; signatures and seals name what slips through).

One SCRAM principal per role, each allowed only its topics; the broker runs Kafka's
StandardAuthorizer (KRaft) with no access where no ACL allows it. `livegate` stays the
stack's administrator (a super user: it creates the topics and runs the tools), and so is
the broker's own plaintext traffic on 127.0.0.1 (controller, inter-broker, ACL setup).
aiokafka's admin client has no ACL calls: the ACLs are made with Kafka's own
`kafka.admin.AclCommand`, from the jars the stack already runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.adapters.kafka import expiries_topic_name
from pipeline.adapters.settings import Settings
from pipeline.domain.errors import LiveGateError

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# role -> SCRAM user; its password is LIVEGATE_KAFKA_PASSWORD_<ROLE> in the secrets file.
PRINCIPALS = {
    "worker": "livegate-worker",
    "console": "livegate-console",
    "intake": "livegate-intake",  # the appeal intake: files appeals, nothing else
    "registry": "livegate-registry",  # the certification registry (`livegate certs`)
}


def password_var(role: str) -> str:
    return f"LIVEGATE_KAFKA_PASSWORD_{role.upper()}"


@dataclass(frozen=True)
class Grant:
    user: str
    operations: tuple[str, ...]
    topics: tuple[str, ...] = ()
    prefix: str | None = None  # topics and groups whose names start with it


def grants(s: Settings) -> list[Grant]:
    """The ACLs of the secure stack, by role (CONTRACT §1's "written by")."""
    t = s.topics
    inputs = (t.live, t.commerce, t.reports, t.certs, t.reviews)
    outputs = (t.actions, t.decisions, t.dlq, t.shadow, t.restrictions, t.queue, t.policies)
    worker, console = PRINCIPALS["worker"], PRINCIPALS["console"]
    return [
        # The worker reads its inputs and what it reads back (decisions' tails, the queue,
        # the policy history), writes its outputs, and owns its internal topics and group.
        Grant(worker, ("Read", "Describe"), (*inputs, t.decisions, t.queue, t.policies)),
        Grant(worker, ("Write", "Describe"), outputs),
        Grant(worker, ("All",), prefix=s.app_id),
        Grant(worker, ("Read", "Write", "Describe"), (expiries_topic_name(s),)),
        # The console: verdicts out, the queue and the standings in.
        Grant(console, ("Write", "Describe"), (t.reviews,)),
        Grant(console, ("Read", "Describe"), (t.queue, t.restrictions)),
        Grant(PRINCIPALS["intake"], ("Write", "Describe"), (t.reviews,)),
        Grant(PRINCIPALS["registry"], ("Read", "Write", "Describe"), (t.certs,)),
    ]


def acl_commands(g: Grant, bootstrap: str) -> list[str]:
    """AclCommand's arguments for one grant."""
    args = ["--bootstrap-server", bootstrap, "--add", "--allow-principal", f"User:{g.user}"]
    for op in g.operations:
        args += ["--operation", op]
    if g.prefix is not None:
        return [*args, "--resource-pattern-type", "prefixed", "--topic", g.prefix,
                "--group", g.prefix]  # fmt: skip
    for topic in g.topics:
        args += ["--topic", topic]
    return args


def apply_acls(jvm: Iterable[str], bootstrap: str, settings: Settings) -> int:
    """Create the ACLs (idempotent: an ACL added twice is one ACL); returns how many grants."""
    found = grants(settings)
    for g in found:
        cmd = [*jvm, "kafka.admin.AclCommand", *acl_commands(g, bootstrap)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip()[-400:]
            raise LiveGateError(f"creating the ACLs of {g.user} failed: {tail}")
    return len(found)
