"""librdkafka's settings from LiveGate's (pipeline/adapters/rdkafkasend.py `config`): the
same broker, acks and security as the aiokafka clients get."""

from __future__ import annotations

from pipeline.adapters.rdkafkasend import config
from pipeline.adapters.settings import Settings


def test_plaintext_acks_all_idempotent():
    c = config(Settings.from_env({"LIVEGATE_KAFKA_BOOTSTRAP": "k1:9092,k2:9092"}))
    assert c["bootstrap.servers"] == "k1:9092,k2:9092"
    assert c["acks"] == "all" and c["enable.idempotence"] is True
    # Only a partition's last record reports (rdkafkasend.py): that needs these two.
    assert c["enable.gapless.guarantee"] is True and c["message.timeout.ms"] == 0
    assert c["security.protocol"] == "PLAINTEXT"
    assert not any(k.startswith(("ssl.", "sasl.")) for k in c)


def test_sasl_over_tls_with_a_ca_file(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    c = config(Settings.from_env({
        "LIVEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LIVEGATE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "LIVEGATE_KAFKA_SASL_USERNAME": "livegate",
        "LIVEGATE_KAFKA_SASL_PASSWORD": "s3cret",
        "LIVEGATE_KAFKA_SSL_CAFILE": str(ca),
    }))  # fmt: skip
    assert c["security.protocol"] == "SASL_SSL"
    assert c["sasl.mechanisms"] == "SCRAM-SHA-256" and c["sasl.username"] == "livegate"
    assert c["sasl.password"] == "s3cret"  # the value itself, handed to librdkafka only
    assert c["ssl.ca.location"] == str(ca)


def test_tls_without_a_ca_file_uses_the_system_cas():
    c = config(Settings.from_env({"LIVEGATE_KAFKA_SECURITY_PROTOCOL": "SSL"}))
    assert c["ssl.ca.location"] == "probe"


def test_librdkafkas_notice_that_gapless_is_experimental_is_not_a_warning(caplog):
    """Chosen on purpose: the notice librdkafka gives at every start stays out of the log;
    its other warnings do not."""
    import logging

    from pipeline.adapters.rdkafkasend import log

    caplog.set_level(logging.INFO, logger=log.name)
    log.warning("CONFWARN [p#producer-1] [thrd:app]: Configuration property "
                "enable.gapless.guarantee is experimental: When set to `true`, ...")  # fmt: skip
    log.warning("FAIL [p#producer-1]: 127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed")
    assert [r.getMessage()[:4] for r in caplog.records] == ["FAIL"]
