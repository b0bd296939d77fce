"""The command line's help (issue 14): --version, every option's default, no `%%`."""

from __future__ import annotations

import argparse

import pytest

from pipeline.cli import HelpFormatter, _subparsers, build_parser, main


def _options():
    parser = build_parser()
    for child in _subparsers(parser):
        for action in child._actions:
            if action.option_strings and action.nargs != 0 and not action.required:
                yield child, action


def test_every_option_says_its_default():
    missing = []
    for child, action in _options():
        text = HelpFormatter(child.prog)._get_help_string(action)
        if "default" not in text.lower():
            missing.append(f"{child.prog} {action.option_strings[0]}")
    assert missing == []


def test_help_texts_format_and_carry_no_doubled_percent(capsys):
    parser = build_parser()
    for child in [parser, *_subparsers(parser)]:
        text = child.format_help()
        assert "%%" not in text and "(default: None)" not in text, child.prog


def test_bench_help_states_the_real_defaults():
    from pipeline.bench.runner import Config

    parser = build_parser()
    (bench,) = [c for c in _subparsers(parser) if c.prog.endswith(" bench")]
    text = bench.format_help()
    assert "50%" in text and "90%" in text
    full = Config.make(False).events
    assert f"{full:,}" in " ".join(text.split())


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("livegate ")


def test_top_level_help_points_to_the_environment():
    text = build_parser().format_help()
    assert "LIVEGATE_KAFKA_BOOTSTRAP" in text and 'README "Configuration"' in text
    assert "register-python-argcomplete livegate" in text


def test_formatter_adds_defaults_only_where_they_say_something():
    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--n", type=int, default=7, help="count")
    p.add_argument("--x", default=None, help="x")
    text = p.format_help()
    assert "count (default: 7)" in text and "(default: None)" not in text
