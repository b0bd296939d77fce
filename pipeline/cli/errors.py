"""One line for a failure the user can act on: an unreachable Kafka or Redis (README
"Command line"). The drivers' errors are not the builtin ConnectionError/OSError, and
aiokafka logs each refused connection at ERROR before it raises: both are handled here."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import redis.exceptions as redis_errors
from aiokafka import errors as kafka_errors

from pipeline.adapters.settings import Settings, SettingsError

# aiokafka's "cannot connect" family: the broker is not there (or not answering).
_KAFKA_UNREACHABLE = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
)
_REDIS_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)
_FIX = "is it running? `livegate stack up` starts the local one"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def redis_address(settings: Settings) -> str:
    parts = urlsplit(settings.redis_url.reveal())
    if parts.scheme == "unix":
        return parts.path
    return parts.netloc.rpartition("@")[2] or "127.0.0.1:6379"


def unreachable(exc: BaseException, settings: Settings | None = None) -> str | None:
    """The one-line message when exc says Kafka or Redis cannot be reached, else None."""
    chain = list(_chain(exc))
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError:
            settings = Settings()
    for e in chain:
        if isinstance(e, _REDIS_UNREACHABLE):
            return (
                f"cannot reach Redis at {redis_address(settings)} ({_cause(e)}): {_FIX}, "
                "or set LIVEGATE_REDIS_URL to your Redis"
            )
    for e in chain:
        if isinstance(e, _KAFKA_UNREACHABLE):
            return (
                f"cannot reach Kafka at {settings.kafka_bootstrap}: {_FIX}, "
                "or set LIVEGATE_KAFKA_BOOTSTRAP to your brokers"
            )
    for e in chain:
        if isinstance(e, kafka_errors.KafkaError):
            return f"Kafka at {settings.kafka_bootstrap} refused the request: {_cause(e)}"
        if isinstance(e, redis_errors.RedisError):
            return f"Redis at {redis_address(settings)} refused the request: {_cause(e)}"
    return None


def _cause(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    low = text.lower()
    if "refused" in low or "connect call failed" in low:
        return "connection refused"
    if "timeout" in low or "timed out" in low:
        return "timed out"
    return text[:200]


class DropConnectNoise(logging.Filter):
    """Drops aiokafka's per-attempt "Unable connect" and "Topic … not found" lines: the
    command says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        msg = str(record.msg)
        if msg.startswith(("Unable connect", "Unable to connect", "Unable to bootstrap")):
            return False
        # A missing topic: retried by the client until it gives up; the command says it once.
        return not (msg.startswith("Topic ") and "not found in cluster metadata" in msg)


def quiet_connect_noise() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(DropConnectNoise())


def require_services(settings: Settings, kafka: bool = True, redis: bool = True) -> None:
    """Fail now (with the driver's error, which main() words) when a service is unreachable,
    rather than after a long start; for commands that would otherwise wait or retry."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from pipeline.adapters import kafka as kafka_io
    from pipeline.adapters.certstore import connect

    async def check() -> None:
        if redis:
            client = connect(settings, socket_timeout=5.0, socket_connect_timeout=5.0)
            try:
                await client.ping()
            finally:
                await client.aclose()
        if kafka:
            bootstrap, security = kafka_io.target(settings)
            admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security
            )
            try:
                await admin.start()
                await admin.list_topics()
            finally:
                await admin.close()

    asyncio.run(check())
