"""Settings: Kafka security variables are validated and secrets never print themselves."""

from __future__ import annotations

import logging
import ssl

import pytest

from pipeline.adapters import kafka
from pipeline.adapters.security import SecretFilter, scrub
from pipeline.adapters.settings import Secret, Settings, SettingsError

PASSWORD = "s3cret-Kafka-pw"
REDIS_PASSWORD = "s3cret-Redis-pw"


def sasl_env(**extra: str) -> dict[str, str]:
    return {
        "LIVEGATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LIVEGATE_KAFKA_SASL_USERNAME": "livegate",
        "LIVEGATE_KAFKA_SASL_PASSWORD": PASSWORD,
        **extra,
    }


def test_defaults_are_plaintext_without_credentials():
    s = Settings.from_env({})
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.kafka_sasl_username is None and s.kafka_sasl_password is None
    assert kafka.client_kwargs(s) == {"security_protocol": "PLAINTEXT"}
    assert kafka.target("h:1") == ("h:1", {})


def test_sasl_ssl_settings_and_client_kwargs(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")  # only checked for existence here
    s = Settings.from_env(sasl_env(LIVEGATE_KAFKA_SSL_CAFILE=str(ca)))
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert s.kafka_sasl and s.kafka_tls and s.kafka_ssl_cafile == ca
    assert isinstance(s.kafka_sasl_password, Secret)
    with pytest.raises(ssl.SSLError):  # an empty CA file is not a CA: the context loads it
        kafka.client_kwargs(s)


def test_sasl_client_kwargs_without_cafile_use_system_cas():
    s = Settings.from_env(sasl_env())
    kwargs = kafka.client_kwargs(s)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "livegate"
    assert kwargs["sasl_plain_password"] == PASSWORD
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert PASSWORD not in repr(kwargs)  # the password is passed as a Secret


def test_sasl_plaintext_has_no_ssl_context():
    s = Settings.from_env(sasl_env(LIVEGATE_KAFKA_SECURITY_PROTOCOL="sasl_plaintext"))
    kwargs = kafka.client_kwargs(s)
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in kwargs


@pytest.mark.parametrize(
    "missing", ["LIVEGATE_KAFKA_SASL_USERNAME", "LIVEGATE_KAFKA_SASL_PASSWORD"]
)
def test_sasl_without_username_or_password_names_the_variable(missing):
    env = sasl_env()
    del env[missing]
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("LIVEGATE_KAFKA_SECURITY_PROTOCOL", "KERBEROS"),
        ("LIVEGATE_KAFKA_SASL_MECHANISM", "GSSAPI"),
        ("LIVEGATE_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem"),
    ],
)
def test_bad_security_values_name_the_variable(var, value):
    with pytest.raises(SettingsError, match=var):
        Settings.from_env(sasl_env(**{var: value}))


def test_no_secret_in_repr_or_errors():
    url = f"redis://livegate:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    keys = {"LIVEGATE_VERDICT_KEYS": "v1=verdict-s3cret", "LIVEGATE_SEAL_KEYS": "s1=seal-s3cret"}
    s = Settings.from_env(sasl_env(LIVEGATE_REDIS_URL=url, LIVEGATE_WEB_TOKEN="tok-123456", **keys))
    shown = repr(s)
    for secret in (PASSWORD, REDIS_PASSWORD, "tok-123456", "verdict-s3cret", "seal-s3cret"):
        assert secret not in shown
    assert REDIS_PASSWORD not in s.redis_url_redacted
    assert s.redis_username == "livegate"
    assert set(s.secret_values()) == {
        PASSWORD, REDIS_PASSWORD, "tok-123456", "verdict-s3cret", "seal-s3cret"
    }  # fmt: skip
    assert scrub(f"failed at {url} with {PASSWORD}", s) == (
        "failed at redis://livegate:***@127.0.0.1:6379/0 with ***"
    )
    bad = f"rediss://livegate:{REDIS_PASSWORD}@"
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"LIVEGATE_REDIS_URL": bad})
    assert REDIS_PASSWORD not in str(err.value)


def test_secret_filter_masks_log_records():
    s = Settings.from_env(sasl_env())
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "auth with %s", (PASSWORD,), None)
    assert SecretFilter(s).filter(record)
    assert record.getMessage() == "auth with ***"
    noise = logging.LogRecord(
        "aiokafka", logging.ERROR, __file__, 1,
        "Unable connect: [Error 58] SaslAuthenticationFailed: Authentication failed", None, None,
    )  # fmt: skip
    assert not SecretFilter(s, drop_auth_noise=True).filter(noise)
    assert SecretFilter(s).filter(noise)


def test_a_secret_masks_itself_in_str_format_and_fstrings_but_reveals_and_encodes():
    secret = Secret("hunter2")
    assert str(secret) == "***" and f"{secret}" == "***" and format(secret, ">5") == "  ***"
    assert "%s" % secret == "***" and repr(secret) == "Secret('***')"  # noqa: UP031 (%-formatting is what logs use)
    assert secret.reveal() == "hunter2" and secret.encode() == b"hunter2"
    assert secret == "hunter2"  # comparisons see the value (clients compare, not print)


def test_store_setting_and_its_faust_options(tmp_path):
    from pipeline.engine.faustconfig import faust_options

    s = Settings.from_env({"LIVEGATE_STORE": "rocksdb://", "LIVEGATE_DATA_DIR": str(tmp_path)})
    assert s.store == "rocksdb://" and s.data_dir == tmp_path
    options = faust_options(s)
    assert options["store"] == "rocksdb://"
    # One data directory per app id and web port: two workers on one host never share one.
    assert options["datadir"] == str(tmp_path / f"{s.app_id}-{s.web_port}")
    assert Settings.from_env({}).store == "rocksdb://"  # the default (README "Performance")
    assert Settings.from_env({"LIVEGATE_STORE": "memory://"}).store == "memory://"


def test_bad_store_names_the_variable():
    with pytest.raises(SettingsError, match="LIVEGATE_STORE"):
        Settings.from_env({"LIVEGATE_STORE": "redis://"})


def test_event_loop_setting():
    assert Settings.from_env({"LIVEGATE_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    with pytest.raises(SettingsError, match="LIVEGATE_EVENT_LOOP"):
        Settings.from_env({"LIVEGATE_EVENT_LOOP": "trio"})


def test_a_kraft_cluster_id_never_reads_as_an_option():
    from pipeline.ops.stack import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000 and not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


def test_replication_defaults_to_one_replica_without_min_isr():
    s = Settings.from_env({})
    assert (s.replication_factor, s.min_insync_replicas) == (1, None)
    assert all(t.replication_factor == 1 for t in kafka.worker_topics(s))
    assert all("min.insync.replicas" not in t.topic_configs for t in kafka.worker_topics(s))


def test_replication_three_takes_min_isr_two_on_every_topic_and_faust_option():
    from pipeline.engine.faustconfig import changelog_configs, faust_options

    s = Settings.from_env({"LIVEGATE_REPLICATION_FACTOR": "3"})
    assert (s.replication_factor, s.min_insync_replicas) == (3, 2)
    topics = kafka.worker_topics(s)
    assert {t.replication_factor for t in topics} == {3}
    assert {t.topic_configs["min.insync.replicas"] for t in topics} == {"2"}
    assert faust_options(s)["topic_replication_factor"] == 3
    assert changelog_configs(s) == {"min.insync.replicas": "2"}


def test_min_isr_is_configurable_and_never_above_the_replication_factor():
    env = {"LIVEGATE_REPLICATION_FACTOR": "5", "LIVEGATE_MIN_INSYNC_REPLICAS": "3"}
    assert Settings.from_env(env).min_insync_replicas == 3
    with pytest.raises(SettingsError, match="LIVEGATE_MIN_INSYNC_REPLICAS=4 is more than"):
        Settings.from_env({"LIVEGATE_REPLICATION_FACTOR": "3", "LIVEGATE_MIN_INSYNC_REPLICAS": "4"})


def test_advertised_url_is_faust_canonical_url_and_never_the_any_address():
    from pipeline.engine.faustconfig import faust_options

    s = Settings.from_env(
        {"LIVEGATE_WEB_HOST": "0.0.0.0", "LIVEGATE_WEB_ADVERTISED_URL": "http://10.1.2.3:6066/"}
    )
    assert faust_options(s)["canonical_url"] == "http://10.1.2.3:6066"
    assert faust_options(Settings.from_env({}))["canonical_url"] == "http://127.0.0.1:6066"
    for bad in ("http://0.0.0.0:6066", "10.1.2.3:6066", "http://h:1/creators"):
        with pytest.raises(SettingsError, match="LIVEGATE_WEB_ADVERTISED_URL"):
            Settings.from_env({"LIVEGATE_WEB_ADVERTISED_URL": bad})


def test_bound_to_every_address_without_an_advertised_url_the_host_name_is_advertised():
    import socket

    s = Settings.from_env({"LIVEGATE_WEB_HOST": "0.0.0.0", "LIVEGATE_WEB_PORT": "7000"})
    assert s.web_url == f"http://{socket.gethostname()}:7000"


def test_group_instance_id_is_fausts_static_membership():
    from pipeline.engine.faustconfig import faust_options

    assert faust_options(Settings.from_env({}))["consumer_group_instance_id"] is None
    s = Settings.from_env({"LIVEGATE_GROUP_INSTANCE_ID": "livegate-worker-2"})
    assert faust_options(s)["consumer_group_instance_id"] == "livegate-worker-2"


def test_redis_sentinel_urls_name_the_sentinels_the_service_and_the_db():
    from pipeline.adapters.settings import parse_sentinel_url

    url = "redis+sentinel://lg:p%40ss@s1:26379,s2:26380,[::1]:26381/certs/2"
    s = Settings.from_env({"LIVEGATE_REDIS_URL": url})
    assert "p%40ss" not in s.redis_url_redacted and s.redis_username == "lg"
    parsed = parse_sentinel_url(s.redis_url.reveal())
    assert parsed.sentinels == (("s1", 26379), ("s2", 26380), ("::1", 26381))
    assert (parsed.service, parsed.db, parsed.username, parsed.password) == (
        "certs", 2, "lg", "p@ss",
    )  # fmt: skip
    assert parse_sentinel_url("redis+sentinel://s1:26379/mymaster").db == 0
    for bad in (
        "redis+sentinel://s1:26379/",
        "redis+sentinel://s1/m/0",
        "redis+sentinel://s1:1/m/x",
    ):
        with pytest.raises(SettingsError, match=r"LIVEGATE_REDIS_URL=.*redis\+sentinel://"):
            Settings.from_env({"LIVEGATE_REDIS_URL": bad})


def test_verdict_and_seal_keys_rotate_and_default_to_the_dev_keys():
    s = Settings.from_env({})
    assert s.dev_keys == ["LIVEGATE_VERDICT_KEYS", "LIVEGATE_SEAL_KEYS"]
    s = Settings.from_env(
        {"LIVEGATE_VERDICT_KEYS": "old=a,new=b", "LIVEGATE_VERDICT_KEY_ID": "new",
         "LIVEGATE_SEAL_KEYS": "s1=c"}
    )  # fmt: skip
    assert s.verdict_key == ("new", "b") and set(s.verdict_keys) == {"old", "new"}
    assert s.seal_key == ("s1", "c") and s.dev_keys == []
    with pytest.raises(SettingsError, match="LIVEGATE_VERDICT_KEY_ID"):
        Settings.from_env({"LIVEGATE_VERDICT_KEYS": "old=a,new=b"})  # which one signs?
    with pytest.raises(SettingsError, match="LIVEGATE_SEAL_KEYS") as err:
        Settings.from_env({"LIVEGATE_SEAL_KEYS": "s1=top-secret,broken"})
    assert "top-secret" not in str(err.value)
