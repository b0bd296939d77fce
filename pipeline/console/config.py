"""The console's settings: the project's Settings plus the console's own variables, read
once at start, frozen. The v2 topic names follow CONTRACT §1 (LIVEGATE_TOPIC_<NAME>)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.adapters.settings import Secret, Settings, SettingsError, env_var_for_topic
from pipeline.domain.errors import PolicyError
from pipeline.domain.yamlcheck import Validator, parse

DEFAULT_SLA_MS = 30 * 60_000
DEFAULT_PORT = 6070
MIN_SECRET_BYTES = 32
MAX_SESSION_HOURS = 24
# name -> (cleanup policy, retention ms) for the topics the console reads or writes.
CONSOLE_TOPICS = {
    "moderation.reviews": ("delete", -1),
    "enforcement.queue": ("compact", -1),
    "enforcement.restrictions": ("compact", -1),
}


def topic_name(settings: Settings, env: Mapping[str, str], default: str) -> str:
    """The configured name: from Settings once it knows the topic, else its variable."""
    if default in settings.topics.names:
        return settings.topics[default]
    raw = env.get(env_var_for_topic(default)) or default
    if not raw.replace(".", "").replace("_", "").replace("-", "").isalnum() or len(raw) > 200:
        raise SettingsError(f"{env_var_for_topic(default)}={raw!r} is not a valid Kafka topic name")
    return raw


@dataclass(frozen=True)
class ReviewSla:
    ms: int
    from_policy: bool  # False: the policy file has no review.sla, the default applies


def read_review_sla(path: Path) -> ReviewSla:
    """`review: {sla: 30m}` from the policy file (CONTRACT §7), default 30 minutes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy file: {exc}", source=str(path)) from None
    data, lines = parse(text, str(path))
    review = data.get("review") if isinstance(data, dict) else None
    if not isinstance(review, dict) or "sla" not in review:
        return ReviewSla(DEFAULT_SLA_MS, from_policy=False)
    return ReviewSla(Validator(lines, str(path)).duration(review["sla"], ("review", "sla")), True)


@dataclass(frozen=True)
class ConsoleSettings:
    base: Settings
    users_path: Path | None
    host: str
    port: int
    secret: Secret | None  # signs session cookies; None: a random one per start
    session_ms: int
    worker_url: str | None  # the worker's creator view; None: not consulted
    reviews_topic: str
    queue_topic: str
    restrictions_topic: str
    trusted_proxies: frozenset[str] = frozenset()  # X-Forwarded-* honoured from these only
    lockout_minutes: int = 15
    audit_path: Path | None = None  # None: audit lines to stderr

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = os.environ if env is None else env
        base = Settings.from_env(env)
        users = env.get("LIVEGATE_CONSOLE_USERS")
        secret = env.get("LIVEGATE_CONSOLE_SECRET")
        if secret is not None and len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"LIVEGATE_CONSOLE_SECRET is {len(secret.encode('utf-8'))} bytes: at least "
                f"{MIN_SECRET_BYTES} are needed (e.g. $(openssl rand -hex 32))"
            )
        worker = env.get("LIVEGATE_WORKER_URL", f"http://127.0.0.1:{base.web_port}").strip()
        audit = env.get("LIVEGATE_CONSOLE_AUDIT_LOG") or ""
        if worker and not worker.startswith(("http://", "https://")):
            raise SettingsError(f"LIVEGATE_WORKER_URL={worker!r}: expected http(s)://host:port")
        return cls(
            base=base,
            users_path=Path(users).expanduser() if users else None,
            host=env.get("LIVEGATE_CONSOLE_HOST") or "127.0.0.1",
            port=_port(env.get("LIVEGATE_CONSOLE_PORT")),
            secret=Secret(secret) if secret else None,
            session_ms=_hours(env.get("LIVEGATE_CONSOLE_SESSION_HOURS")) * 3_600_000,
            worker_url=worker.rstrip("/") or None,
            reviews_topic=topic_name(base, env, "moderation.reviews"),
            queue_topic=topic_name(base, env, "enforcement.queue"),
            restrictions_topic=topic_name(base, env, "enforcement.restrictions"),
            trusted_proxies=parse_proxies(env.get("LIVEGATE_CONSOLE_TRUSTED_PROXY") or ""),
            lockout_minutes=_minutes(env.get("LIVEGATE_CONSOLE_LOCKOUT_MINUTES")),
            audit_path=Path(audit).expanduser() if audit and audit != "-" else None,
        )


def _port(raw: str | None) -> int:
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 <= int(raw) < 65536:
        raise SettingsError(f"LIVEGATE_CONSOLE_PORT={raw!r} is not a port")
    return int(raw)


def _hours(raw: str | None) -> int:
    if not raw:
        return 12
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SESSION_HOURS:
        raise SettingsError(
            f"LIVEGATE_CONSOLE_SESSION_HOURS={raw!r}: expected 1..{MAX_SESSION_HOURS}"
        )
    return int(raw)


def _minutes(raw: str | None) -> int:
    if not raw:
        return 15
    if not raw.isdigit() or not 1 <= int(raw) <= 24 * 60:
        raise SettingsError(f"LIVEGATE_CONSOLE_LOCKOUT_MINUTES={raw!r}: expected 1..1440")
    return int(raw)


def parse_proxies(raw: str, source: str = "LIVEGATE_CONSOLE_TRUSTED_PROXY") -> frozenset[str]:
    """Comma-separated IP addresses (the proxy as the console sees it connect)."""
    out = set()
    for part in raw.split(","):
        text = part.strip()
        if not text:
            continue
        try:
            out.add(str(ipaddress.ip_address(text)))
        except ValueError:
            raise SettingsError(f"{source}={raw!r}: {text!r} is not an IP address") from None
    return frozenset(out)
