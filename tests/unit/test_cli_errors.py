"""One line for an unreachable service, whatever the driver raised (issue 14)."""

from __future__ import annotations

import logging

import redis.exceptions as redis_errors
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from pipeline.adapters.settings import Settings
from pipeline.cli.errors import DropConnectNoise, unreachable

SETTINGS = Settings.from_env(
    {"LIVEGATE_KAFKA_BOOTSTRAP": "kafka.example:9092",
     "LIVEGATE_REDIS_URL": "redis://user:s3cret@redis.example:6380/2"}
)  # fmt: skip


def test_kafka():
    line = unreachable(KafkaConnectionError("Unable to bootstrap from [...]"), SETTINGS)
    assert line == (
        "cannot reach Kafka at kafka.example:9092: is it running? `livegate stack up` starts "
        "the local one, or set LIVEGATE_KAFKA_BOOTSTRAP to your brokers"
    )
    assert unreachable(KafkaTimeoutError(), SETTINGS).startswith("cannot reach Kafka")  # type: ignore[union-attr]


def test_redis_without_its_password_and_through_a_chain_or_group():
    try:
        try:
            raise redis_errors.ConnectionError(
                "Error 111 connecting to redis.example:6380. Connection refused."
            )
        except redis_errors.ConnectionError as inner:
            raise RuntimeError("while applying") from inner
    except RuntimeError as outer:
        line = unreachable(ExceptionGroup("g", [outer]), SETTINGS)
    assert line is not None
    assert line.startswith("cannot reach Redis at redis.example:6380 (connection refused): ")
    assert "s3cret" not in line and "LIVEGATE_REDIS_URL" in line


def test_other_errors_are_not_explained():
    assert unreachable(ValueError("x"), SETTINGS) is None


def test_aiokafka_connect_noise_is_dropped_and_nothing_else():
    noise = DropConnectNoise()

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("h", 1, "e"), None)

    assert not noise.filter(record("aiokafka", 'Unable connect to "%s:%s": %s'))
    assert not noise.filter(record("aiokafka.cluster", "Topic %s not found in cluster metadata"))
    assert noise.filter(record("aiokafka.consumer", "Heartbeat failed %s %s %s"))
    assert noise.filter(record("livegate", "Unable connect to anything"))
