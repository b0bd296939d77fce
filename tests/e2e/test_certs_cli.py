"""`livegate certs …` as a user types it (CONTRACT §8)."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.kafka import contract_topics, ensure_topics
from tests.conftest import isolated_env
from tests.helpers import free_port, read_all, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture
async def env(stack_env, uid, settings):
    await ensure_topics(settings.kafka_bootstrap, contract_topics(settings))
    return isolated_env(stack_env, uid)


def test_a_missing_topic_is_a_clear_error_and_writes_nothing(stack_env, uid):
    r = run_cli(
        isolated_env(stack_env, uid),
        "certs",
        "grant",
        f"c-{uid}",
        "law",
        "--license",
        "L",
        "--issuer",
        "Bar",
        "--valid-until",
        "2099-01-01",
    )
    assert r.returncode == 1
    assert "does not exist" in r.stderr and "livegate stack up" in r.stderr
    assert "Traceback" not in r.stderr


async def test_grant_show_revoke(env, settings, uid):
    c = f"doc-{uid}"
    r = run_cli(
        env,
        "certs",
        "grant",
        c,
        "health",
        "--license",
        "L-9",
        "--issuer",
        "NHC",
        "--valid-until",
        "2099-01-01",
        "--profession",
        "physician",
    )
    assert r.returncode == 0, r.stderr
    assert "applied" in r.stdout
    shown = run_cli(env, "certs", "show", c)
    assert "QUALIFIED" in shown.stdout and "physician" in shown.stdout
    r = run_cli(env, "certs", "revoke", c, "health", "--reason", "license withdrawn")
    assert r.returncode == 0, r.stderr
    as_json = json.loads(run_cli(env, "certs", "show", c, "--json").stdout)
    assert as_json["health"]["status"] == "revoked"
    history = await read_all(settings, settings.topics.certs)
    assert [h["type"] for h in history] == ["certification_granted", "certification_revoked"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["astrology", "--valid-until", "2099-01-01"], "unknown domain"),
        (["health", "--valid-until", "2099-13-45"], "is not a time"),
        (["health", "--valid-until", "2099-01-01T00:00:00"], "no UTC offset"),
        (["health", "--valid-until", "2000-01-01"], "--valid-until 2000-01-01 is in the past"),
        (["health", "--valid-until", "1700000000"], "looks like seconds; use milliseconds"),
    ],
)
def test_bad_grants_are_refused_with_a_clear_error(env, uid, args, message):
    domain, *rest = args
    r = run_cli(env, "certs", "grant", f"c-{uid}", domain, "--license", "L", "--issuer", "I", *rest)
    assert r.returncode == 1
    assert message in r.stderr
    assert "valid_from" not in r.stderr
    assert "Traceback" not in r.stderr


def _offline(stack_env, uid):
    env = isolated_env(stack_env, uid)
    env["LIVEGATE_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    env["LIVEGATE_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    return env


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["grant", "bad id!", "health", "--license", "L", "--issuer", "I", "--valid-until",
          "2099-01-01"], "creator_id must be 1–128 characters of letters, digits and . _ : -"),
        (["grant", "c1", "health", "--license", "", "--issuer", "I", "--valid-until",
          "2099-01-01"], "license_id must not be empty"),
        (["grant", "c1", "astrology", "--license", "L", "--issuer", "I", "--valid-until",
          "2099-01-01"], "unknown domain 'astrology': use health, finance, law or education"),
        (["grant", "c1", "law", "--license", "L", "--issuer", "I", "--valid-from", "2030-01-01",
          "--valid-until", "2029-01-01"], "--valid-until 2029-01-01 is not after --valid-from"),
        (["revoke", "c1", "health", "--reason", "x" * 1100], "reason must be at most 1024"),
        (["show", "bad id!"], "creator_id must be 1–128 characters"),
    ],
)  # fmt: skip
def test_bad_input_is_said_in_words_before_any_connection(stack_env, uid, args, line):
    r = run_cli(_offline(stack_env, uid), "certs", *args)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"livegate: error: {line}"] or line in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for internal in ("cannot reach", "regex", "$.", "`", "('health'"):
        assert internal not in r.stderr


def test_replay_verify_reads_its_policy_file_before_connecting(stack_env, uid):
    r = run_cli(_offline(stack_env, uid), "replay", "verify", "--from", "-7d",
                "--policy", "/missing.yaml")  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "livegate: error: cannot read policy /missing.yaml: [Errno 2] No such file or "
        "directory: '/missing.yaml'"
    ]


def test_import_is_all_or_nothing_and_names_the_bad_line(env, tmp_path, uid):
    header = "creator_id,domain,license_id,issuer,valid_from,valid_until,profession\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        header
        + f"a-{uid},health,L1,NHC,2024-01-01,2099-01-01,physician\n"
        + f"b-{uid},astrology,L2,NHC,2024-01-01,2099-01-01,\n"
        + f"c-{uid},law,L3,Bar,yesterday,2099-01-01,lawyer\n"
    )
    r = run_cli(env, "certs", "import", str(bad), "--as-of", "now")
    assert r.returncode == 1
    assert "line 3" in r.stderr and "line 4" in r.stderr and "nothing imported" in r.stderr
    assert "no certifications" in run_cli(env, "certs", "show", f"a-{uid}").stdout

    good = tmp_path / "good.csv"
    good.write_text(
        header
        + f"a-{uid},health,L1,NHC,2024-01-01,2099-01-01,physician\n"
        + f"c-{uid},law,L3,Bar,2024-01-01T00:00:00Z,2099-01-01,lawyer\n"
    )
    r = run_cli(env, "certs", "import", str(good), "--as-of", "now-1h")
    assert r.returncode == 0, r.stderr
    assert "imported 2 rows" in r.stdout
    assert "QUALIFIED" in run_cli(env, "certs", "show", f"c-{uid}").stdout


async def test_import_of_an_excel_export_then_a_stale_reimport(env, tmp_path, uid, redis_client):
    excel = tmp_path / "excel.csv"
    excel.write_bytes(
        ("\ufeffcreator_id;domain;license_id;issuer;valid_from;valid_until;profession\r\n"
         f"a-{uid};health;L1;NHC;2024-01-01;2099-01-01;physician\r\n").encode()
    )  # fmt: skip
    r = run_cli(env, "certs", "import", str(excel), "--as-of", "-1d")
    assert r.returncode == 0, r.stderr
    assert "imported 1 rows" in r.stdout and "1 changed the table" in r.stdout
    assert run_cli(env, "certs", "revoke", f"a-{uid}", "health", "--reason", "x").returncode == 0
    again = run_cli(env, "certs", "import", str(excel), "--as-of", "-1d")
    assert again.returncode == 0, again.stderr
    assert "0 changed the table" in again.stdout
    assert (
        json.loads(run_cli(env, "certs", "show", f"a-{uid}", "--json").stdout)["health"]["status"]
        == "revoked"
    )


def test_import_refuses_duplicates_and_header_only_files(env, tmp_path, uid, redis_client):
    header = "creator_id,domain,license_id,issuer,valid_from,valid_until,profession\n"
    dup = tmp_path / "dup.csv"
    row = f"a-{uid},health,L1,NHC,2024-01-01,2099-01-01,physician\n"
    dup.write_text(header + row + row)
    r = run_cli(env, "certs", "import", str(dup), "--as-of", "now")
    assert r.returncode == 1
    assert f"line 3: a-{uid} health is already on line 2" in r.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text(header)
    r = run_cli(env, "certs", "import", str(empty), "--as-of", "now")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"livegate: error: {empty} has no data rows: nothing imported, and the table is not "
        "marked loaded"
    ]


async def test_header_only_import_leaves_the_table_unloaded(env, tmp_path, uid, redis_client):
    empty = tmp_path / "empty.csv"
    empty.write_text("creator_id,domain,license_id,issuer,valid_from,valid_until,profession\n")
    run_cli(env, "certs", "import", str(empty), "--as-of", "now")
    assert not await redis_client.exists(f"t{uid}:cert-loaded")


async def test_reconcile_reports_and_repairs_a_rolled_back_table(env, uid, redis_client):
    c = f"doc-{uid}"
    grant = ["certs", "grant", c, "health", "--license", "L-1", "--issuer", "NHC",
             "--valid-until", "2099-01-01"]  # fmt: skip
    assert run_cli(env, *grant).returncode == 0
    granted = await redis_client.hget(f"t{uid}:cert:{c}", "health")
    assert run_cli(env, "certs", "revoke", c, "health", "--reason", "x").returncode == 0
    consistent = run_cli(env, "certs", "reconcile")
    assert consistent.returncode == 0, consistent.stderr
    assert "0 difference(s)" in consistent.stdout
    await redis_client.hset(f"t{uid}:cert:{c}", "health", granted)  # a Redis rollback

    dry = run_cli(env, "certs", "reconcile", "--dry-run")
    assert dry.returncode == 1
    (line,) = [x for x in dry.stdout.splitlines() if x.startswith(c)]
    assert line.startswith(f"{c} health: table has active license L-1")
    assert "history says revoked" in line and line.endswith("not repaired (--dry-run)")
    assert "active" in run_cli(env, "certs", "show", c).stdout

    fixed = run_cli(env, "certs", "reconcile")
    assert fixed.returncode == 0, fixed.stderr
    assert any(x.startswith(f"{c} health:") and x.endswith(": repaired")
               for x in fixed.stdout.splitlines())  # fmt: skip
    assert "1 difference(s), 1 repaired" in fixed.stdout
    assert "status=revoked" in run_cli(env, "certs", "show", c).stdout


async def test_show_says_what_is_wrong_with_an_unreadable_value(env, uid, redis_client):
    c = f"doc-{uid}"
    await redis_client.hset(
        f"t{uid}:cert:{c}", "health", b'{"status":"suspended","updated_at":1,"event_id":"e"}'
    )
    await redis_client.hset(f"t{uid}:cert:{c}", "law", b'{"status": "act')
    r = run_cli(env, "certs", "show", c)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{c} health     UNREADABLE: status 'suspended' is not one of")
    assert lines[1].startswith(f"{c} law        UNREADABLE: the JSON is cut off")
    await redis_client.set(f"t{uid}:cert:x-{uid}", "not a hash")
    r = run_cli(env, "certs", "show", f"x-{uid}")
    assert r.returncode == 1
    assert r.stdout.strip() == (
        f"x-{uid} UNREADABLE: the key t{uid}:cert:x-{uid} is not a hash: fix or delete it by hand"
    )


async def test_show_escapes_control_characters_of_stored_values(env, uid, redis_client):
    c = f"esc-{uid}"
    value = {"status": "active", "license_id": "L\x1b]0;owned\x07", "issuer": "I\x1b[2J\u202e",
             "profession": "physician\r", "valid_from": 0, "valid_until": 4_102_444_800_000,
             "updated_at": 1, "event_id": "e1"}  # fmt: skip
    await redis_client.hset(f"t{uid}:cert:{c}", "health", json.dumps(value).encode())
    await redis_client.hset(f"t{uid}:cert:{c}", "law", b'{"status": "\x1b[31m')
    r = run_cli(env, "certs", "show", c)
    assert not any(ch in r.stdout for ch in "\x1b\x07\u202e\r"), r.stdout
    assert "license=L\\x1b]0;owned\\x07 issuer=I\\x1b[2J\\u202e" in r.stdout
