"""The one settings object: read from the environment once, validated, frozen."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pipeline.domain.errors import LiveGateError
from pipeline.domain.signing import KeyListError, parse_keys

# Contract §1: default topic names, their retention (ms, -1 = forever) and cleanup policy.
TOPIC_DEFAULTS: dict[str, tuple[str, int, str]] = {
    "live.streams": ("live.streams", 30 * 86_400_000, "delete"),
    "commerce.links": ("commerce.links", 30 * 86_400_000, "delete"),
    "moderation.reports": ("moderation.reports", 30 * 86_400_000, "delete"),
    "certification.changes": ("certification.changes", -1, "delete"),
    "enforcement.actions": ("enforcement.actions", 30 * 86_400_000, "delete"),
    "enforcement.decisions": ("enforcement.decisions", -1, "delete"),
    "enforcement.dlq": ("enforcement.dlq", 30 * 86_400_000, "delete"),
    "enforcement.policies": ("enforcement.policies", -1, "compact"),
    "enforcement.shadow": ("enforcement.shadow", 30 * 86_400_000, "delete"),
    # v2 (CONTRACT §1, §9): verdicts and appeals in; the standing and queue snapshots out.
    "moderation.reviews": ("moderation.reviews", -1, "delete"),
    "enforcement.restrictions": ("enforcement.restrictions", -1, "compact"),
    "enforcement.queue": ("enforcement.queue", -1, "compact"),
}

ANY_ADDRESS = ("0.0.0.0", "::", "")  # a bind address no other process can connect to

REPO_ROOT = Path(__file__).resolve().parents[2]

# The creator-state table's store (README "Performance"): Faust's in-memory store restores
# the whole changelog at every start; RocksDB keeps it on disk, with its changelog offsets.
STORES = ("memory://", "rocksdb://")
EVENT_LOOPS = ("uvloop", "asyncio")  # the worker's event loop (LIVEGATE_EVENT_LOOP)
# What sends a batch's records and table writes (LIVEGATE_PRODUCER): librdkafka
# (adapters/rdkafkasend.py) or aiokafka (adapters/batchsend.py).
PRODUCERS = ("librdkafka", "aiokafka")

KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class SettingsError(LiveGateError):
    """A setting from the environment is invalid; the message names the variable."""


class Secret(str):
    """A string that never prints itself: repr, str(), f-strings and format() all mask it;
    `reveal()` is the one way to the value (and str methods such as encode() see it)."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return format("***", spec)

    def reveal(self) -> str:
        return str.__str__(self)


# CONTRACT §12's keys when none are set: the local stack and the tests work out of the box,
# and the worker says loudly at start that it runs on them (README "Trust").
DEV_KEY_ID = "dev"
DEV_VERDICT_KEYS = {DEV_KEY_ID: Secret("livegate-dev-verdict-key (not for production)")}
DEV_SEAL_KEYS = {DEV_KEY_ID: Secret("livegate-dev-seal-key (not for production)")}


def env_var_for_topic(name: str) -> str:
    return "LIVEGATE_TOPIC_" + name.upper().replace(".", "_").replace("-", "_")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@dataclass(frozen=True)
class Topics:
    names: Mapping[str, str]

    def __getitem__(self, default_name: str) -> str:
        return self.names[default_name]

    @property
    def live(self) -> str:
        return self.names["live.streams"]

    @property
    def commerce(self) -> str:
        return self.names["commerce.links"]

    @property
    def reports(self) -> str:
        return self.names["moderation.reports"]

    @property
    def certs(self) -> str:
        return self.names["certification.changes"]

    @property
    def actions(self) -> str:
        return self.names["enforcement.actions"]

    @property
    def decisions(self) -> str:
        return self.names["enforcement.decisions"]

    @property
    def dlq(self) -> str:
        return self.names["enforcement.dlq"]

    @property
    def policies(self) -> str:
        return self.names["enforcement.policies"]

    @property
    def shadow(self) -> str:
        return self.names["enforcement.shadow"]

    @property
    def reviews(self) -> str:
        return self.names["moderation.reviews"]

    @property
    def restrictions(self) -> str:
        return self.names["enforcement.restrictions"]

    @property
    def queue(self) -> str:
        return self.names["enforcement.queue"]


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Kafka client security (README "Security"): the password is a Secret, never printed.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: Secret | None = None
    kafka_ssl_cafile: Path | None = None
    redis_url: Secret = field(default_factory=lambda: Secret("redis://127.0.0.1:6379/0"))
    redis_prefix: str = "livegate:"
    topics: Topics = field(
        default_factory=lambda: Topics({k: v[0] for k, v in TOPIC_DEFAULTS.items()})
    )
    partitions: int = 6
    # Replication of every topic LiveGate and Faust create (README "Production"): 1 on the
    # one-broker local stack, 3 in the Helm chart; min.insync.replicas None = the broker's.
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    app_id: str = "livegate"
    # Static group membership (KIP-345; Faust's consumer_group_instance_id): a worker that
    # comes back under the same id within the session timeout keeps its partitions without
    # a rebalance (the chart sets the pod name). None = dynamic membership.
    group_instance_id: str | None = None
    policy_path: Path = REPO_ROOT / "config" / "policy.yaml"
    shadow_policy_path: Path | None = None
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    # The URL other workers and the console reach this worker at (Faust's canonical_url:
    # the creator view forwards a creator to its owner's URL); None = http://host:port.
    web_advertised_url: str | None = None
    web_token: Secret | None = None
    max_record_bytes: int = 65_536
    batch_max: int = 500
    batch_within_ms: int = 1
    fetch_gather_ms: int = 20
    store: str = "rocksdb://"
    event_loop: str = "uvloop"
    producer: str = "librdkafka"
    data_dir: Path = Path.home() / ".local" / "share" / "livegate" / "data"
    # Local stack.
    stack_dir: Path = Path.home() / ".local" / "share" / "livegate" / "stack"
    cache_dir: Path = Path.home() / ".cache" / "livegate"
    kafka_version: str = "3.9.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    # The local broker creates a topic a client names before it exists, as Kafka does by
    # default (off here: the stack creates every topic it should have).
    kafka_auto_create_topics: bool = False
    redis_port: int = 6379
    kafka_internal_port: int | None = None  # secure stack's inter-broker listener
    log_format: str = "text"
    # The enforcement circuit breaker (pipeline/engine/breaker.py).
    breaker_window_s: int = 10
    breaker_factor: int = 10
    breaker_floor: int = 2000
    # Faust standby replicas of every table (creator state, outbox, decided ids): a worker
    # keeps a copy of partitions it does not own, so a failover needs little or no restore.
    # Off by default: keeping the copies costs CPU while a worker joins (README).
    standby_replicas: int = 0
    # CONTRACT §12: verdict signing keys (workers verify with all, signers use the key id)
    # and decision-record seal keys; {key_id: Secret}. The dev defaults when unset.
    verdict_keys: Mapping[str, Secret] = field(default_factory=lambda: dict(DEV_VERDICT_KEYS))
    verdict_key_id: str = DEV_KEY_ID
    seal_keys: Mapping[str, Secret] = field(default_factory=lambda: dict(DEV_SEAL_KEYS))
    seal_key_id: str = DEV_KEY_ID

    @property
    def seal_key(self) -> tuple[str, str]:
        """(key_id, secret) to seal decision records with."""
        return self.seal_key_id, self.seal_keys[self.seal_key_id].reveal()

    @property
    def verdict_key(self) -> tuple[str, str]:
        """(key_id, secret) to sign verdicts with (the console, the CLI, the simulator)."""
        return self.verdict_key_id, self.verdict_keys[self.verdict_key_id].reveal()

    @property
    def dev_keys(self) -> list[str]:
        """Which of the keys are the built-in development ones (said at start)."""
        out = []
        if dict(self.verdict_keys) == DEV_VERDICT_KEYS:
            out.append("LIVEGATE_VERDICT_KEYS")
        if dict(self.seal_keys) == DEV_SEAL_KEYS:
            out.append("LIVEGATE_SEAL_KEYS")
        return out

    @property
    def web_url(self) -> str:
        """This worker's URL as others reach it: the advertised one; else, bound to every
        address (the image), the host name (docker compose resolves a container's); else
        the bound host and port."""
        if self.web_advertised_url:
            return self.web_advertised_url
        host = socket.gethostname() if self.web_host in ANY_ADDRESS else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def cert_prefix(self) -> str:
        return self.redis_prefix + "cert:"

    @property
    def epoch_key(self) -> str:
        return self.redis_prefix + "cert-epoch"

    @property
    def loaded_key(self) -> str:
        return self.redis_prefix + "cert-loaded"

    @property
    def redis_url_redacted(self) -> str:
        return redact_url(self.redis_url.reveal())

    @property
    def kafka_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def kafka_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def redis_username(self) -> str:
        """The Redis user the URL names ('default' when it names none)."""
        return urlsplit(self.redis_url.reveal()).username or "default"

    def secret_values(self) -> list[str]:
        """Every secret this object holds, for scrubbing text before it is shown."""
        redis_password = urlsplit(self.redis_url).password
        values = [self.kafka_sasl_password, self.web_token, redis_password]
        values += [*self.verdict_keys.values(), *self.seal_keys.values()]
        if redis_password:
            values.append(unquote(redis_password))
        return sorted({str.__str__(v) for v in values if v}, key=len, reverse=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _from_env(os.environ if env is None else env)


def _int(env: Mapping[str, str], var: str, default: int, lo: int = 1, hi: int = 1 << 31) -> int:
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{var}={value} is out of range {lo}..{hi}")
    return value


def _bootstrap(env: Mapping[str, str], var: str, default: str) -> str:
    raw = env.get(var) or default
    for server in raw.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"{var}={raw!r}: expected host:port[,host:port…]")
    return raw


SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelUrl:
    """`redis+sentinel://[user:password@]host1:26379,host2:26379/SERVICE/DB`: the Sentinels
    to ask for SERVICE's master; the user and password are the master's (README "Redis HA")."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None


def parse_sentinel_url(url: str) -> SentinelUrl:
    parts = urlsplit(url)
    expected = f"expected {SENTINEL_SCHEME}://[user:pass@]host:port[,host:port…]/SERVICE[/DB]"
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = []
    for server in hosts.split(","):
        host, sep, port = server.strip().rpartition(":")
        host = host.strip("[]")
        if not host or not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"{redact_url(url)!r}: {expected}")
        sentinels.append((host, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
        raise SettingsError(f"{redact_url(url)!r}: {expected}")
    return SentinelUrl(
        tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
    )  # fmt: skip


def _redis_url(env: Mapping[str, str], var: str, default: str) -> Secret:
    raw = env.get(var) or default
    parts = urlsplit(raw)
    if parts.scheme == SENTINEL_SCHEME:
        try:
            parse_sentinel_url(raw)
        except SettingsError as exc:
            raise SettingsError(f"{var}={exc}") from None
        return Secret(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise SettingsError(
            f"{var}={redact_url(raw)!r}: expected redis://[user:pass@]host:port/db "
            f"or {SENTINEL_SCHEME}://[user:pass@]host:port,host:port/SERVICE/DB"
        )
    return Secret(raw)


def _replication(env: Mapping[str, str]) -> dict[str, Any]:
    factor = _int(env, "LIVEGATE_REPLICATION_FACTOR", 1, 1, 32)
    # acks=all with min.insync.replicas 2 of 3: a write survives one lost broker, and one
    # broker may be down (a rolling restart) without stopping the writes.
    default = min(2, factor) if factor > 1 else 0
    min_isr = _int(env, "LIVEGATE_MIN_INSYNC_REPLICAS", default, 0, 32)
    if min_isr > factor:
        raise SettingsError(
            f"LIVEGATE_MIN_INSYNC_REPLICAS={min_isr} is more than "
            f"LIVEGATE_REPLICATION_FACTOR={factor}: no write could ever succeed"
        )
    return {"replication_factor": factor, "min_insync_replicas": min_isr or None}


def _instance_id(env: Mapping[str, str]) -> str | None:
    raw = env.get("LIVEGATE_GROUP_INSTANCE_ID") or None
    if raw is not None and (len(raw) > 249 or not raw.isprintable()):
        raise SettingsError(f"LIVEGATE_GROUP_INSTANCE_ID={raw!r}: 1-249 printable characters")
    return raw


def _advertised_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("LIVEGATE_WEB_ADVERTISED_URL") or None
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise SettingsError(
            f"LIVEGATE_WEB_ADVERTISED_URL={raw!r}: expected http://host:port (no path)"
        )
    if parts.hostname in ("0.0.0.0", "::"):
        raise SettingsError(
            f"LIVEGATE_WEB_ADVERTISED_URL={raw!r}: other workers cannot reach 0.0.0.0; "
            "use this worker's address (in Kubernetes, the pod IP)"
        )
    return raw.rstrip("/")


def _topic_name(env: Mapping[str, str], default: str) -> str:
    var = env_var_for_topic(default)
    raw = env.get(var) or default
    if not raw.replace(".", "").replace("_", "").replace("-", "").isalnum() or len(raw) > 200:
        raise SettingsError(f"{var}={raw!r} is not a valid Kafka topic name")
    return raw


def _path(env: Mapping[str, str], var: str, default: Path) -> Path:
    raw = env.get(var)
    return Path(raw).expanduser() if raw else default


def _kafka_security(env: Mapping[str, str]) -> dict[str, Any]:
    protocol = (env.get("LIVEGATE_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise SettingsError(
            f"LIVEGATE_KAFKA_SECURITY_PROTOCOL={protocol!r}: expected one of "
            + ", ".join(KAFKA_SECURITY_PROTOCOLS)
        )
    mechanism = (env.get("LIVEGATE_KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").upper()
    if mechanism not in KAFKA_SASL_MECHANISMS:
        raise SettingsError(
            f"LIVEGATE_KAFKA_SASL_MECHANISM={mechanism!r}: expected one of "
            + ", ".join(KAFKA_SASL_MECHANISMS)
        )
    username = env.get("LIVEGATE_KAFKA_SASL_USERNAME") or None
    password = env.get("LIVEGATE_KAFKA_SASL_PASSWORD") or None
    if protocol.startswith("SASL_"):
        for var, value in (
            ("LIVEGATE_KAFKA_SASL_USERNAME", username),
            ("LIVEGATE_KAFKA_SASL_PASSWORD", password),
        ):
            if value is None:
                raise SettingsError(
                    f"{var} must be set when LIVEGATE_KAFKA_SECURITY_PROTOCOL={protocol}"
                )
    cafile_raw = env.get("LIVEGATE_KAFKA_SSL_CAFILE")
    cafile = Path(cafile_raw).expanduser() if cafile_raw else None
    if cafile is not None and not cafile.is_file():
        raise SettingsError(f"LIVEGATE_KAFKA_SSL_CAFILE={cafile_raw!r}: no such file")
    return {
        "kafka_security_protocol": protocol,
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": username,
        "kafka_sasl_password": Secret(password) if password else None,
        "kafka_ssl_cafile": cafile,
    }


def _keys(
    env: Mapping[str, str], var: str, id_var: str, default: Mapping[str, Secret]
) -> tuple[dict[str, Secret], str]:
    raw = env.get(var)
    if not raw:
        keys = dict(default)
    else:
        try:
            keys = {k: Secret(v) for k, v in parse_keys(raw).items()}
        except KeyListError as exc:
            raise SettingsError(f"{var}: {exc}") from None
        if not keys:
            raise SettingsError(f"{var} is set but holds no KEY_ID=SECRET pair")
    key_id = env.get(id_var) or (next(iter(keys)) if len(keys) == 1 else "")
    if key_id not in keys:
        raise SettingsError(
            f"{id_var}={key_id!r} names no key of {var} (it holds {', '.join(sorted(keys))})"
        )
    return keys, key_id


def _from_env(env: Mapping[str, str]) -> Settings:
    base = Settings()
    log_format = env.get("LIVEGATE_LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        raise SettingsError(f"LIVEGATE_LOG_FORMAT={log_format!r}: expected text or json")
    store = env.get("LIVEGATE_STORE") or base.store
    if store not in STORES:
        raise SettingsError(f"LIVEGATE_STORE={store!r}: expected one of " + ", ".join(STORES))
    event_loop = env.get("LIVEGATE_EVENT_LOOP") or base.event_loop
    if event_loop not in EVENT_LOOPS:
        raise SettingsError(
            f"LIVEGATE_EVENT_LOOP={event_loop!r}: expected one of " + ", ".join(EVENT_LOOPS)
        )
    producer = env.get("LIVEGATE_PRODUCER") or base.producer
    if producer not in PRODUCERS:
        raise SettingsError(
            f"LIVEGATE_PRODUCER={producer!r}: expected one of " + ", ".join(PRODUCERS)
        )
    shadow = env.get("LIVEGATE_SHADOW_POLICY")
    token = env.get("LIVEGATE_WEB_TOKEN")
    app_id = env.get("LIVEGATE_APP_ID", base.app_id)
    if not app_id or not app_id.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SettingsError(f"LIVEGATE_APP_ID={app_id!r} must be letters, digits, . _ -")
    verdict_keys, verdict_key_id = _keys(
        env, "LIVEGATE_VERDICT_KEYS", "LIVEGATE_VERDICT_KEY_ID", DEV_VERDICT_KEYS
    )
    seal_keys, seal_key_id = _keys(env, "LIVEGATE_SEAL_KEYS", "LIVEGATE_SEAL_KEY_ID", DEV_SEAL_KEYS)
    return Settings(
        verdict_keys=verdict_keys,
        verdict_key_id=verdict_key_id,
        seal_keys=seal_keys,
        seal_key_id=seal_key_id,
        kafka_bootstrap=_bootstrap(env, "LIVEGATE_KAFKA_BOOTSTRAP", base.kafka_bootstrap),
        **_kafka_security(env),
        redis_url=_redis_url(env, "LIVEGATE_REDIS_URL", base.redis_url.reveal()),
        redis_prefix=env.get("LIVEGATE_REDIS_PREFIX", base.redis_prefix),
        topics=Topics({name: _topic_name(env, name) for name in TOPIC_DEFAULTS}),
        partitions=_int(env, "LIVEGATE_PARTITIONS", base.partitions, 1, 1024),
        **_replication(env),
        app_id=app_id,
        group_instance_id=_instance_id(env),
        policy_path=_path(env, "LIVEGATE_POLICY", base.policy_path),
        shadow_policy_path=Path(shadow).expanduser() if shadow else None,
        web_port=_int(env, "LIVEGATE_WEB_PORT", base.web_port, 0, 65535),
        web_host=env.get("LIVEGATE_WEB_HOST", base.web_host),
        web_advertised_url=_advertised_url(env),
        web_token=Secret(token) if token else None,
        max_record_bytes=_int(env, "LIVEGATE_MAX_RECORD_BYTES", base.max_record_bytes),
        batch_max=_int(env, "LIVEGATE_BATCH_MAX", base.batch_max, 1, 100_000),
        batch_within_ms=_int(env, "LIVEGATE_BATCH_WITHIN_MS", base.batch_within_ms, 1, 10_000),
        fetch_gather_ms=_int(env, "LIVEGATE_FETCH_GATHER_MS", base.fetch_gather_ms, 0, 1000),
        store=store,
        event_loop=event_loop,
        producer=producer,
        data_dir=_path(env, "LIVEGATE_DATA_DIR", base.data_dir),
        stack_dir=_path(env, "LIVEGATE_STACK_DIR", base.stack_dir),
        cache_dir=_path(env, "LIVEGATE_CACHE_DIR", base.cache_dir),
        kafka_version=env.get("LIVEGATE_KAFKA_VERSION", base.kafka_version),
        kafka_port=_int(env, "LIVEGATE_KAFKA_PORT", base.kafka_port, 1, 65535),
        kafka_controller_port=_int(
            env, "LIVEGATE_KAFKA_CONTROLLER_PORT", base.kafka_controller_port, 1, 65535
        ),
        kafka_heap=env.get("LIVEGATE_KAFKA_HEAP", base.kafka_heap),
        kafka_auto_create_topics=bool(_int(env, "LIVEGATE_KAFKA_AUTO_CREATE_TOPICS", 0, 0, 1)),
        redis_port=_int(env, "LIVEGATE_REDIS_PORT", base.redis_port, 1, 65535),
        kafka_internal_port=_int(env, "LIVEGATE_KAFKA_INTERNAL_PORT", 0, 0, 65535) or None,
        log_format=log_format,
        breaker_window_s=_int(env, "LIVEGATE_BREAKER_WINDOW_S", base.breaker_window_s, 1, 3600),
        breaker_factor=_int(env, "LIVEGATE_BREAKER_FACTOR", base.breaker_factor, 1, 10_000),
        breaker_floor=_int(env, "LIVEGATE_BREAKER_FLOOR", base.breaker_floor, 0, 10_000_000),
        standby_replicas=_int(env, "LIVEGATE_STANDBY_REPLICAS", base.standby_replicas, 0, 16),
    )
