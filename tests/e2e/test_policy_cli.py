"""`livegate policy check|diff|schema`: what CI of policy changes and editors run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipeline.domain.policy import policy_version
from tests.conftest import ROOT
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e

POLICY = ROOT / "config" / "policy.yaml"
SCHEMA = ROOT / "config" / "policy.schema.json"
ENV = dict(os.environ)


def edited(tmp_path: Path, name: str, *changes: tuple[str, str]) -> Path:
    text = POLICY.read_text(encoding="utf-8")
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_a_good_file():
    done = run_cli(ENV, "policy", "check", str(POLICY))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ok, policy {policy_version(POLICY.read_bytes())}\n"


def test_check_names_the_line_and_the_reason(tmp_path: Path):
    bad = edited(tmp_path, "bad.yaml", ("  live.unqualified:\n    severity: serious",
                                        "  live.unqualified:\n    sevrity: serious"))  # fmt: skip
    line = bad.read_text().splitlines().index("    sevrity: serious") + 1
    done = run_cli(ENV, "policy", "check", str(bad))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"livegate: error: {bad} line {line}: `rules.live.unqualified.sevrity`: unknown key; "
        "expected one of severity, actions, mode, rollout, expires_at, daily_cap\n"
    )


def test_check_a_file_that_is_not_there(tmp_path: Path):
    done = run_cli(ENV, "policy", "check", str(tmp_path / "missing.yaml"))
    assert done.returncode == 1
    assert done.stderr.startswith("livegate: error: ") and "cannot read the policy" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_diff_says_which_rules_numbers_and_keywords_changed(tmp_path: Path):
    new = edited(
        tmp_path, "new.yaml",
        ("  live.unqualified:\n    severity: serious", "  live.unqualified:\n    severity: severe"),
        ("deductions: {minor: 2,", "deductions: {minor: 3,"),
        ("    doctor, doctors,", "    doctors, dentist,"),
        ("  gaming: null\n", "  gaming: null\n  podcast: finance\n"),
        ("    distinct_reporters: 5", "    distinct_reporters: 8"),
        ("      - limit_recommendation: {duration: 24h}\n      - flag_for_review\n\n  commerce",
         "      - limit_recommendation: {duration: 48h}\n      - flag_for_review\n\n  commerce"),
    )  # fmt: skip
    done = run_cli(ENV, "policy", "diff", str(POLICY), str(new))
    assert done.returncode == 0, done.stderr
    old_v, new_v = policy_version(POLICY.read_bytes()), policy_version(new.read_bytes())
    assert done.stdout.splitlines() == [
        f"policy {old_v} → {new_v}: 6 changes",
        "  + categories.podcast: finance",
        "  ~ title_keywords.health: added dentist; removed doctor",
        "  ~ credit.deductions.minor: 2 → 3",
        "  ~ rules.live.unqualified.severity: serious → severe",
        "  ~ rules.live.suspected.actions[0].limit_recommendation.duration: 24h → 48h",
        "  ~ rules.reports.threshold.distinct_reporters: 5 → 8",
        "rules changed: live.unqualified, live.suspected, reports.threshold",
    ]


def test_diff_of_comments_only_and_of_the_same_file(tmp_path: Path):
    commented = tmp_path / "commented.yaml"
    commented.write_text("# reviewed\n" + POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    done = run_cli(ENV, "policy", "diff", str(POLICY), str(commented))
    assert done.returncode == 0 and "no change in meaning" in done.stdout
    same = run_cli(ENV, "policy", "diff", str(POLICY), str(POLICY))
    assert same.returncode == 0 and "the same file" in same.stdout


def test_diff_refuses_a_file_that_does_not_load(tmp_path: Path):
    bad = edited(tmp_path, "bad.yaml", ("dedup_horizon: 7d", "dedup_horizon: 7 days"))
    done = run_cli(ENV, "policy", "diff", str(POLICY), str(bad))
    assert done.returncode == 1 and done.stdout == ""
    assert "`state.dedup_horizon`: expected a duration" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_the_committed_schema_is_up_to_date_and_the_policy_validates():
    done = run_cli(ENV, "policy", "schema")
    assert done.returncode == 0, done.stderr
    assert done.stdout == SCHEMA.read_text(encoding="utf-8"), (
        "config/policy.schema.json is stale: livegate policy schema > config/policy.schema.json"
    )
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(POLICY.read_text(encoding="utf-8")), schema)
