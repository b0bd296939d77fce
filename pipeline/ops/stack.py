"""The local stack: Apache Kafka (KRaft, from Maven Central jars) and redis-server, as processes.

No Docker engine runs on the development and CI machines, so the stack is plain processes
whose pids are kept in the stack directory; `down` stops only those.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

import redis

from pipeline.adapters import kafka
from pipeline.adapters.settings import REPO_ROOT, Secret, Settings, redact_url
from pipeline.domain.errors import LiveGateError
from pipeline.ops import acls

KAFKA_CONFIG = REPO_ROOT / "config" / "kafka"
STACK_USER = "livegate"  # the SCRAM user and the Redis ACL user of a secure stack
CERT_DAYS = 825


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


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64, as Kafka's own. Like Kafka's
    Uuid.randomUuid, never one that starts with '-': the storage tool would read it as an
    option ("--cluster-id: expected one argument"), one format in 64."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalStack:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.dir = settings.stack_dir
        self.kafka_dir = self.dir / "kafka"
        self.redis_dir = self.dir / "redis"
        self.libs = settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs"
        self.tls_dir = self.dir / "tls"
        self.secrets_file = self.dir / "secrets.env"

    # ---- security -----------------------------------------------------------------------
    @property
    def secure(self) -> bool:
        """A secure stack (SASL_SSL Kafka, Redis ACL user): `up --secure` made it so."""
        return self.secrets_file.exists()

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def internal_port(self) -> int:
        return self.s.kafka_internal_port or self.s.kafka_controller_port + 1

    def _secrets(self) -> dict[str, str]:
        out = {}
        for line in self.secrets_file.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                out[name.strip()] = value.strip()
        return out

    def mark_loaded(self) -> bool:
        """Mark the certification table of the settings' Redis prefix loaded, unless it is
        (a local stack's table is what its users put there: nothing to wait for); True if
        it was not."""
        client = redis.Redis.from_url(self.client_settings().redis_url.reveal())
        try:
            return bool(client.set(self.s.loaded_key, str(int(time.time() * 1000)), nx=True))
        finally:
            client.close()

    def client_settings(self) -> Settings:
        """The settings a client of this stack needs (its own credentials when secure)."""
        s = dataclasses.replace(self.s, kafka_bootstrap=self.kafka_bootstrap)
        if not self.secure:
            return dataclasses.replace(s, redis_url=Secret(self.redis_url))
        found = self._secrets()
        return dataclasses.replace(
            s,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=STACK_USER,
            kafka_sasl_password=Secret(found["LIVEGATE_KAFKA_SASL_PASSWORD"]),
            kafka_ssl_cafile=self.ca_file,
            redis_url=Secret(found["LIVEGATE_REDIS_URL"]),
        )

    def connect_env(self) -> list[str]:
        """Shell lines that point LiveGate at this stack; secrets by reference only."""
        lines = [f"export LIVEGATE_KAFKA_BOOTSTRAP={self.kafka_bootstrap}"]
        if not self.secure:
            return [*lines, f"export LIVEGATE_REDIS_URL={self.redis_url}"]
        return [
            *lines,
            "export LIVEGATE_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
            "export LIVEGATE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
            f"export LIVEGATE_KAFKA_SASL_USERNAME={STACK_USER}",
            f"export LIVEGATE_KAFKA_SSL_CAFILE={self.ca_file}",
            f"set -a; . {self.secrets_file}; set +a"
            "   # LIVEGATE_KAFKA_SASL_PASSWORD, LIVEGATE_REDIS_URL (with the password)",
        ]

    def _make_secure(self) -> None:
        """Generate the CA, the broker certificate and both passwords (once per directory)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._make_certs()
        if self.secrets_file.exists():
            self._add_role_passwords()
            return
        kafka_password = secrets.token_urlsafe(24)
        redis_password = secrets.token_urlsafe(24)
        url = f"redis://{STACK_USER}:{redis_password}@127.0.0.1:{self.s.redis_port}/0"
        text = (
            "# LiveGate secure stack: generated passwords (keep this file mode 0600).\n"
            "# Load with: set -a; . THIS_FILE; set +a\n"
            f"LIVEGATE_KAFKA_SASL_PASSWORD={kafka_password}\n"
            f"LIVEGATE_REDIS_URL={url}\n"
        )
        _write_private(self.secrets_file, text)
        self._add_role_passwords()

    def _add_role_passwords(self) -> None:
        """One SCRAM principal per role (pipeline/ops/acls.py), each with its password."""
        found = self._secrets()
        missing = [r for r in acls.PRINCIPALS if acls.password_var(r) not in found]
        if not missing:
            return
        text = self.secrets_file.read_text()
        text += "# Kafka principals per role (User:livegate-<role>), each allowed only its topics\n"
        text += "".join(f"{acls.password_var(r)}={secrets.token_urlsafe(24)}\n" for r in missing)
        _write_private(self.secrets_file, text)

    def _role_scram(self) -> list[tuple[str, str]]:
        """(SCRAM user, password) of each role principal."""
        found = self._secrets()
        return [(user, found[acls.password_var(role)]) for role, user in acls.PRINCIPALS.items()]

    def _make_certs(self) -> None:
        if (self.tls_dir / "broker-keystore.pem").exists():
            return
        openssl = _require("openssl", "openssl")
        t = self.tls_dir
        t.mkdir(parents=True, exist_ok=True)
        os.chmod(t, 0o700)
        ext = t / "broker.ext"
        ext.write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
        )
        steps = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", str(CERT_DAYS), "-subj", "/CN=LiveGate local CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key",
             "-out", "broker.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "broker.pem", "-days", str(CERT_DAYS),
             "-extfile", ext.name],
        ]  # fmt: skip
        for step in steps:
            proc = subprocess.run(
                [openssl, *step], cwd=t, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                raise StackError(f"openssl {step[0]} failed: {proc.stderr.strip()[-300:]}")
        for key in ("ca.key", "broker.key"):
            os.chmod(t / key, 0o600)
        # Kafka's PEM keystore: the (unencrypted PKCS#8) key, then the certificate chain.
        keystore = (t / "broker.key").read_text() + (t / "broker.pem").read_text()
        _write_private(t / "broker-keystore.pem", keystore + (t / "ca.pem").read_text())

    # ---- status -------------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.s.kafka_port}"

    @property
    def redis_url(self) -> str:
        """The Redis URL without credentials (see client_settings for a secure stack's)."""
        return f"redis://127.0.0.1:{self.s.redis_port}/0"

    def status(self) -> list[ProcessStatus]:
        kpid = _alive(self.kafka_dir / "kafka.pid", "kafka.Kafka")
        rpid = _alive(self.redis_dir / "redis.pid", "redis-server")
        kafka_addr, redis_addr = self.kafka_bootstrap, self.redis_url
        if self.secure:
            kafka_addr = f"SASL_SSL://{self.kafka_bootstrap}"
            redis_addr = redact_url(f"redis://{STACK_USER}:x@127.0.0.1:{self.s.redis_port}/0")
        return [
            ProcessStatus("kafka", kpid, kpid is not None, kafka_addr, self.kafka_dir),
            ProcessStatus("redis", rpid, rpid is not None, redis_addr, self.redis_dir),
        ]

    # ---- up -----------------------------------------------------------------------------
    def up(
        self, partitions: int | None = None, timeout_s: float = 90.0, secure: bool = False
    ) -> list[str]:
        """Start what is not running, wait until both answer, create the topics. Idempotent.

        `secure` makes a new stack directory a secure one (SASL_SSL Kafka, Redis ACL user);
        a directory that is secure stays so whatever `secure` says.
        """
        java = _require("java", "openjdk-17-jre-headless")
        _require("redis-server", "redis-server")
        if secure and not self.secure and (self.kafka_dir / "data" / "meta.properties").exists():
            raise StackError(
                f"{self.dir} holds a plaintext stack: give the secure stack its own "
                "LIVEGATE_STACK_DIR and ports (see README, Security)"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        if secure:
            self._make_secure()
        notes: list[str] = []
        # A brand-new stack has a complete (empty) certification table (CONTRACT §3); the
        # marker is written once, so an emptied Redis on an old stack is never marked.
        marker = self.dir / "initialized"
        if _alive(self.redis_dir / "redis.pid", "redis-server") is None:
            _port_free(self.s.redis_port, "LIVEGATE_REDIS_PORT", self.redis_dir)
            self._start_redis()
            notes.append(f"redis started on {self.redis_url}")
        if _alive(self.kafka_dir / "kafka.pid", "kafka.Kafka") is None:
            _port_free(self.s.kafka_port, "LIVEGATE_KAFKA_PORT", self.kafka_dir)
            _port_free(
                self.s.kafka_controller_port, "LIVEGATE_KAFKA_CONTROLLER_PORT", self.kafka_dir
            )
            self._fetch_kafka()
            self._start_kafka(java)
            notes.append(f"kafka {self.s.kafka_version} started on {self.kafka_bootstrap}")
        self._wait_redis(timeout_s)
        client_settings = self.client_settings()
        if not marker.exists():
            self.mark_loaded()
        try:
            asyncio.run(kafka.wait_for_kafka(client_settings, timeout_s))
        except TimeoutError as exc:
            raise StackError(f"{exc}; see {self.kafka_dir / 'logs' / 'server.log'}") from None
        created = asyncio.run(
            kafka.ensure_topics(client_settings, kafka.contract_topics(self.s, partitions))
        )
        if created:
            notes.append(f"created {len(created)} topics")
        if self.secure:
            notes += self._secure_access(java)
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
                auto_create="true" if self.s.kafka_auto_create_topics else "false",
            )
        )
        if self.secure:
            _write_private(props, _secure_properties(props.read_text(), self))
        jvm = kafka_jvm(java, self.libs, self.s.kafka_heap, logs)
        if not (data / "meta.properties").exists():
            cluster_id = new_cluster_id()
            fmt_cmd = [
                *jvm,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
            ]
            if self.secure:
                # SCRAM credentials are part of the KRaft metadata from the first record on.
                password = self._secrets()["LIVEGATE_KAFKA_SASL_PASSWORD"]
                fmt_cmd += ["--add-scram", f"SCRAM-SHA-512=[name={STACK_USER},password={password}]"]
                for user, secret in self._role_scram():
                    fmt_cmd += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={secret}]"]
            fmt = subprocess.run(fmt_cmd, capture_output=True, text=True, check=False)
            if fmt.returncode != 0:
                detail = fmt.stderr.strip()[-500:]
                if self.secure:
                    for secret in self._secrets().values():
                        detail = detail.replace(secret, "***")
                raise StackError(f"formatting Kafka storage failed: {detail}")
            if self.secure:
                (self.dir / "principals").touch()
        pid = daemon([*jvm, "kafka.Kafka", str(props)], logs / "stdout.log", self.kafka_dir)
        (self.kafka_dir / "kafka.pid").write_text(str(pid))

    def _secure_access(self, java: str) -> list[str]:
        """The role principals and their ACLs (once per stack directory), made through the
        broker's own plaintext listener on 127.0.0.1 (a super user)."""
        notes = []
        log4j = f"-Dlog4j.configuration=file:{KAFKA_CONFIG / 'log4j.properties'}"
        logs = self.kafka_dir / "logs"
        tool = [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={logs}", log4j, "-cp", f"{self.libs}/*"]  # fmt: skip
        internal = f"127.0.0.1:{self.internal_port}"
        if not (self.dir / "principals").exists():  # a secure stack made before the roles
            for user, secret in self._role_scram():
                cmd = [*tool, "kafka.admin.ConfigCommand", "--bootstrap-server", internal,
                       "--alter", "--add-config", f"SCRAM-SHA-512=[password={secret}]",
                       "--entity-type", "users", "--entity-name", user]  # fmt: skip
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise StackError(f"adding the Kafka user {user} failed")
            (self.dir / "principals").touch()
        marker = self.dir / "acls"
        if not marker.exists():
            count = acls.apply_acls(tool, internal, self.s)
            marker.touch()
            notes.append(f"kafka ACLs: {count} grants for {', '.join(acls.PRINCIPALS.values())}")
        return notes

    def _start_redis(self) -> None:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            "redis-server", "--port", str(self.s.redis_port), "--bind", "127.0.0.1",
            "--dir", str(self.redis_dir), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--daemonize", "no", "--logfile", str(self.redis_dir / "redis.log"),
        ]  # fmt: skip
        if self.secure:
            # An ACL file (mode 0600), not --user: a password on the command line is
            # visible to every local user in `ps`.
            password = _url_password(self._secrets()["LIVEGATE_REDIS_URL"])
            acl = self.redis_dir / "users.acl"
            _write_private(acl, f"user {STACK_USER} on >{password} ~* &* +@all\nuser default off\n")
            cmd += ["--aclfile", str(acl)]
        pid = daemon(cmd, self.redis_dir / "stdout.log", self.redis_dir)
        (self.redis_dir / "redis.pid").write_text(str(pid))

    def _wait_redis(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = self.client_settings().redis_url.reveal()
        client = redis.Redis.from_url(url, socket_timeout=1)
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
                stop_process(pid, timeout_s)
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
            stop_process(pid, 30.0)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _url_password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).password or "")


def _secure_properties(plain: str, stack: LocalStack) -> str:
    """The plain broker configuration turned into the secure stack's: clients on SASL_SSL
    (SCRAM-SHA-512, the generated certificate), the controller and the broker's own
    replication traffic on plaintext listeners bound to 127.0.0.1."""
    s = stack.s
    overrides = {
        "listeners": f"SASL_SSL://127.0.0.1:{s.kafka_port},"
        f"CONTROLLER://127.0.0.1:{s.kafka_controller_port},"
        f"INTERNAL://127.0.0.1:{stack.internal_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{s.kafka_port},"
        f"INTERNAL://127.0.0.1:{stack.internal_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,"
        "SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "INTERNAL",
        # CONTRACT §12: each principal only its topics (pipeline/ops/acls.py). The admin
        # user and the broker's own plaintext traffic on 127.0.0.1 are super users.
        "authorizer.class.name": acls.AUTHORIZER,
        "super.users": f"User:{STACK_USER};User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
    }
    lines = [line for line in plain.splitlines() if line.partition("=")[0].strip() not in overrides]
    lines += [f"{k}={v}" for k, v in overrides.items()]
    lines += [
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={stack.tls_dir / 'broker-keystore.pem'}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={stack.ca_file}",
        "ssl.client.auth=none",
        "ssl.endpoint.identification.algorithm=https",
    ]
    return "\n".join(lines) + "\n"


def _port_free(port: int, variable: str, data_dir: Path) -> None:
    """Refuse to start when another process holds the port: this stack would silently
    talk to that one (and stop only its own, dead, process)."""
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise StackError(
                f"port {port} is already in use by a process this stack ({data_dir}) did not "
                f"start: stop it, or choose another port with {variable}"
            )


def kafka_jvm(java: str, libs: Path, heap: str, logs: Path) -> list[str]:
    """The JVM command line (up to the main class) of a local Kafka node, small for 2 cores."""
    log4j = f"-Dlog4j.configuration=file:{KAFKA_CONFIG / 'log4j.properties'}"
    return [java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={logs}", log4j, "-cp", f"{libs}/*"]  # fmt: skip


def daemon(cmd: list[str], log: Path, cwd: Path) -> int:
    """Start cmd detached (own session, parent init), output appended to log; its pid."""
    launcher = 'log=$1; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'
    out = subprocess.run(
        ["sh", "-c", launcher, "sh", str(log), *cmd], capture_output=True, text=True,
        check=True, start_new_session=True, cwd=cwd,
    )  # fmt: skip
    return int(out.stdout.strip())


def stop_process(pid: int, timeout_s: float) -> None:
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
