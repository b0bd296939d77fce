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
    assert done.stdout == (
        f"ok, policy {policy_version(POLICY.read_bytes())} "
        "(platforms: default, wechat-channels, douyin, kuaishou)\n"
    )


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
    assert done.stdout.splitlines()[:8] == [
        f"policy {old_v} → {new_v}: 6 changes",
        "  + categories.podcast: finance",
        "  ~ title_keywords.health: added dentist; removed doctor",
        "  ~ credit.deductions.minor: 2 → 3",
        "  ~ rules.live.unqualified.severity: serious → severe",
        "  ~ rules.live.suspected.actions[0].limit_recommendation.duration: 24h → 48h",
        "  ~ rules.reports.threshold.distinct_reporters: 5 → 8",
        "rules changed: live.unqualified, live.suspected, reports.threshold",
    ]
    per_platform = done.stdout.split("(base and overlay merged):\n", 1)[1]
    # WeChat Channels sets its own deductions: the base's new minor deduction is not its
    assert "  default: 6 changes\n" in per_platform
    assert "  wechat-channels: 5 changes\n" in per_platform
    assert "  douyin: 6 changes\n" in per_platform


def test_diff_of_an_overlay_shows_under_its_platform_only(tmp_path: Path):
    new = edited(tmp_path, "new.yaml", ("        actions: [remove_product_link, warn]",
                                        "        actions: [remove_product_link]"))  # fmt: skip
    done = run_cli(ENV, "policy", "diff", str(POLICY), str(new))
    assert done.returncode == 0, done.stderr
    tail = done.stdout.split("(base and overlay merged):\n", 1)[1]
    assert tail.splitlines() == [
        "  kuaishou: 1 changes",
        "    ~ rules.commerce.medical_personnel.actions: removed warn",
    ]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("  douyin:\n", "  Douyin:\n"), "platform name 'Douyin' is not [a-z0-9._-]{1,32}"),
        (("        actions: [remove_product_link, warn]",
          "        actions: [remove_product_link, warn]\n      commerce.resale: {severity: minor}"),
         "`platforms.kuaishou.rules.commerce.resale`: the base policy has no"),
        (("        - {at_or_above: 0, every_days: 7}\n", ""), "must be at_or_above 0"),
        (("  appeal:\n    zh-CN: \"如有异议，请于{appeal_by}前在创作者服务中心提交申诉。\"\n",
          "  appeal:\n    zh-CN: \"如有异议，请于{deadline}前在创作者服务中心提交申诉。\"\n"),
         "unknown placeholder {deadline}"),
        (("    restore_credit:\n", "    restore_creditt:\n"), "no notice for `restore_credit`"),
    ],
)  # fmt: skip
def test_check_refuses_bad_platforms_and_notices_with_the_line(tmp_path, change, says):
    bad = edited(tmp_path, "bad.yaml", change)
    done = run_cli(ENV, "policy", "check", str(bad))
    assert done.returncode == 1 and done.stdout == "", done.stdout
    assert says in done.stderr and f"{bad} line " in done.stderr, done.stderr


def test_check_refuses_a_policy_without_notices(tmp_path: Path):
    text = POLICY.read_text(encoding="utf-8")
    head, _ = text.split("\nnotices:\n", 1)
    bare = tmp_path / "bare.yaml"
    bare.write_text(head + "\n", encoding="utf-8")  # no catalogue, no overlays (they use it)
    done = run_cli(ENV, "policy", "check", str(bare))
    assert done.returncode == 1 and "no `notices:` catalogue" in done.stderr


def test_show_a_platforms_merged_policy():
    done = run_cli(ENV, "policy", "show", "--file", str(POLICY), "--platform", "wechat-channels",
                   "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["platform"] == "wechat-channels" and "platforms" not in body["policy"]
    assert body["policy"]["credit"]["max"] == 100
    assert body["policy"]["credit"]["repeat_window"] == "30d"  # the base's, merged
    text = run_cli(ENV, "policy", "show", "--file", str(POLICY), "--platform", "douyin").stdout
    assert "# overlay: ~ credit.recovery:" in text and "every_days: 30" in text
    other = run_cli(ENV, "policy", "show", "--file", str(POLICY), "--platform", "bilibili").stdout
    assert "(no overlay: the base, `default`)" in other


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
