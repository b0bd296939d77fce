"""The console's settings and the review SLA read from the policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.settings import SettingsError
from pipeline.console.config import ConsoleSettings, read_review_sla
from pipeline.domain.errors import PolicyError

ROOT = Path(__file__).resolve().parents[3]


def test_the_default_policy_gives_a_review_sla():
    sla = read_review_sla(ROOT / "config" / "policy.yaml")
    # 30 minutes: the contract's default, whether or not the file sets it yet
    assert sla.ms == 30 * 60_000


def test_review_sla_from_the_file_or_the_default(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text("credit: {}\nreview:\n  sla: 45m\n")
    assert read_review_sla(path).ms == 45 * 60_000 and read_review_sla(path).from_policy
    path.write_text("credit: {}\n")
    assert read_review_sla(path).ms == 30 * 60_000 and not read_review_sla(path).from_policy
    path.write_text("review:\n  sla: soon\n")
    with pytest.raises(PolicyError, match="line 2"):
        read_review_sla(path)


def test_console_settings_defaults_bind_localhost():
    cs = ConsoleSettings.from_env({})
    assert (cs.host, cs.port) == ("127.0.0.1", 6070)
    assert cs.worker_url == "http://127.0.0.1:6066"
    assert (cs.reviews_topic, cs.queue_topic, cs.restrictions_topic) == (
        "moderation.reviews", "enforcement.queue", "enforcement.restrictions",
    )  # fmt: skip
    assert cs.users_path is None and cs.secret is None


def test_console_settings_from_the_environment(tmp_path: Path):
    cs = ConsoleSettings.from_env({
        "LIVEGATE_CONSOLE_USERS": str(tmp_path / "u"), "LIVEGATE_CONSOLE_PORT": "7001",
        "LIVEGATE_WORKER_URL": "", "LIVEGATE_CONSOLE_SECRET": "k" * 40,
        "LIVEGATE_TOPIC_ENFORCEMENT_QUEUE": "t1.enforcement.queue",
    })  # fmt: skip
    assert cs.users_path == tmp_path / "u" and cs.port == 7001 and cs.worker_url is None
    assert cs.queue_topic == "t1.enforcement.queue"
    assert "k" * 40 not in repr(cs)


@pytest.mark.parametrize(
    ("var", "value"),
    [("LIVEGATE_CONSOLE_PORT", "http"), ("LIVEGATE_WORKER_URL", "localhost:6066"),
     ("LIVEGATE_TOPIC_MODERATION_REVIEWS", "bad topic!"),
     ("LIVEGATE_CONSOLE_SESSION_HOURS", "0")],
)  # fmt: skip
def test_bad_console_settings_name_their_variable(var: str, value: str):
    with pytest.raises(SettingsError, match=var):
        ConsoleSettings.from_env({var: value})


@pytest.mark.parametrize("secret", ["short", "x" * 31, "密" * 10])
def test_a_session_secret_under_32_bytes_is_refused(secret):
    with pytest.raises(SettingsError, match="at least 32"):
        ConsoleSettings.from_env({"LIVEGATE_CONSOLE_SECRET": secret})
    assert ConsoleSettings.from_env({"LIVEGATE_CONSOLE_SECRET": "密" * 11}).secret is not None


def test_sessions_last_12_hours_by_default_and_never_more_than_24():
    assert ConsoleSettings.from_env({}).session_ms == 12 * 3_600_000
    with pytest.raises(SettingsError, match=r"1\.\.24"):
        ConsoleSettings.from_env({"LIVEGATE_CONSOLE_SESSION_HOURS": "720"})


def test_trusted_proxies_lockout_and_audit_log(tmp_path: Path):
    cs = ConsoleSettings.from_env({
        "LIVEGATE_CONSOLE_TRUSTED_PROXY": "10.0.0.2, ::1",
        "LIVEGATE_CONSOLE_LOCKOUT_MINUTES": "30",
        "LIVEGATE_CONSOLE_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    })  # fmt: skip
    assert cs.trusted_proxies == {"10.0.0.2", "::1"} and cs.lockout_minutes == 30
    assert cs.audit_path == tmp_path / "audit.jsonl"
    with pytest.raises(SettingsError, match="not an IP address"):
        ConsoleSettings.from_env({"LIVEGATE_CONSOLE_TRUSTED_PROXY": "proxy.local"})
