"""Credentials: say in one line when Kafka or Redis refuses them, and never show a secret.

aiokafka does not raise its authentication error: it logs it and raises
`KafkaConnectionError("Unable to bootstrap …")`. So when a command fails on a connection,
`describe` opens one connection of its own to each service with the configured
credentials and, if that is refused, returns the clear reason instead. The worker runs the
same checks (`preflight`) before Faust starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import redis.exceptions as redis_errors
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings, SettingsError
from pipeline.domain.errors import LiveGateError

KAFKA_AUTH_ERRORS = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    UnsupportedSaslMechanismError,
)
MASK = "***"


class CredentialsRefused(LiveGateError):
    """Kafka or Redis refused the configured credentials (or the TLS handshake)."""


def kafka_refused(settings: Settings) -> str:
    if not settings.kafka_sasl:
        return (
            f"Kafka at {settings.kafka_bootstrap} requires authentication: set "
            "LIVEGATE_KAFKA_SECURITY_PROTOCOL and the LIVEGATE_KAFKA_SASL_* variables"
        )
    return (
        f"Kafka refused the credentials for user {settings.kafka_sasl_username!r} "
        f"(SASL {settings.kafka_sasl_mechanism} authentication failed at "
        f"{settings.kafka_bootstrap}); check LIVEGATE_KAFKA_SASL_USERNAME and "
        "LIVEGATE_KAFKA_SASL_PASSWORD"
    )


def redis_refused(settings: Settings) -> str:
    parts = urlsplit(settings.redis_url)
    where = parts.netloc.rpartition("@")[2]
    if parts.password is None:
        return (
            f"Redis at {where} requires a user and password: put them in LIVEGATE_REDIS_URL "
            "(redis://USER:PASSWORD@host:port/db)"
        )
    return (
        f"Redis refused the credentials for user {settings.redis_username!r} "
        f"(at {where}); check the user and password in LIVEGATE_REDIS_URL"
    )


def tls_refused(settings: Settings, exc: BaseException) -> str:
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
    return (
        f"the TLS handshake with Kafka at {settings.kafka_bootstrap} failed ({reason}); "
        "check LIVEGATE_KAFKA_SSL_CAFILE (the CA that signed the broker's certificate)"
    )


# ---- checks ---------------------------------------------------------------------------
async def check_kafka(settings: Settings, timeout_s: float = 10.0) -> None:
    """Authenticate once against the first bootstrap server that answers.

    Raises CredentialsRefused on refused credentials or certificate; an unreachable broker
    is not this check's business (the caller's own client reports it).
    """
    security = kafka.client_kwargs(settings)
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **security),
                timeout_s,
            )
        except KAFKA_AUTH_ERRORS:
            raise CredentialsRefused(kafka_refused(settings)) from None
        except ssl.SSLCertVerificationError as exc:
            raise CredentialsRefused(tls_refused(settings, exc)) from None
        except (OSError, KafkaError, TimeoutError):
            continue
        conn.close()
        return


async def check_redis(settings: Settings, timeout_s: float = 5.0) -> None:
    """AUTH (as part of connecting) and PING; raises CredentialsRefused if refused."""
    from pipeline.adapters.certstore import connect

    client = connect(settings, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        await client.ping()
    except redis_errors.AuthenticationError:
        raise CredentialsRefused(redis_refused(settings)) from None
    except redis_errors.ResponseError as exc:
        if _is_redis_auth_reply(exc):
            raise CredentialsRefused(redis_refused(settings)) from None
        raise
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError):
        pass  # unreachable: reported by whoever needs Redis
    finally:
        await client.aclose()


def preflight(settings: Settings) -> None:
    """Both checks (the worker runs them before it starts Faust)."""

    async def both() -> None:
        await check_redis(settings)
        await check_kafka(settings)

    with _quiet("aiokafka"):
        asyncio.run(both())


# ---- explaining failures --------------------------------------------------------------
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_redis_auth_reply(exc: BaseException) -> bool:
    text = str(exc)
    return text.startswith(("NOAUTH", "WRONGPASS")) or "AUTH <password>" in text


def _connectivity(exc: BaseException) -> bool:
    return isinstance(
        exc,
        KafkaError
        | redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | redis_errors.ResponseError
        | OSError
        | TimeoutError,
    )


def describe(exc: BaseException, settings: Settings | None = None) -> str | None:
    """The clear one-line reason when exc comes from refused credentials, else None."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError:
            return None
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, CredentialsRefused):
            return str(e)
        if isinstance(e, redis_errors.AuthenticationError) or (
            isinstance(e, redis_errors.ResponseError) and _is_redis_auth_reply(e)
        ):
            return redis_refused(settings)
        if isinstance(e, KAFKA_AUTH_ERRORS):
            return kafka_refused(settings)
    if any(_connectivity(e) for e in chain):
        try:
            preflight(settings)
        except CredentialsRefused as refused:
            return str(refused)
        except Exception:  # the diagnosis must never hide the original error
            return None
    return None


# ---- keeping secrets out of text and logs ---------------------------------------------
def scrub(text: str, settings: Settings | None = None) -> str:
    """text with every secret of the settings (from the environment by default) masked."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError:
            return text
    for value in settings.secret_values():
        text = text.replace(value, MASK)
    return text


class SecretFilter(logging.Filter):
    """A handler filter: masks the settings' secrets in every record; with
    `drop_auth_noise`, drops aiokafka's per-connection authentication errors (the command
    reports the refusal once, clearly)."""

    def __init__(self, settings: Settings, drop_auth_noise: bool = False) -> None:
        super().__init__()
        self.secrets = settings.secret_values()
        self.drop_auth_noise = drop_auth_noise

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if (
            self.drop_auth_noise
            and record.name.startswith("aiokafka")
            and ("SaslAuthenticationFailed" in message or "Authentication failed" in message)
        ):
            return False
        masked = message
        for value in self.secrets:
            masked = masked.replace(value, MASK)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            for value in self.secrets:
                text = text.replace(value, MASK)
            record.exc_text = text
        return True


def guard_logging(drop_auth_noise: bool = False) -> None:
    """Put a SecretFilter on every handler of the root logger."""
    try:
        settings = Settings.from_env()
    except SettingsError:
        return
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretFilter(settings, drop_auth_noise))


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
