"""The CLI speaks to people: every command says what it does, every option has help (and shows
its default), each command names the STREAMAPP_* settings it reads."""

from __future__ import annotations

import argparse
import re

import pytest

from streamapp.cli.main import ENVIRONMENT, build_parser, env_name, main
from streamapp.settings import Settings

PARSER = build_parser()
(COMMANDS,) = [a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)]


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


@pytest.mark.parametrize("name", sorted(COMMANDS.choices))
def test_every_command_has_a_summary_and_every_option_help(name):
    command = COMMANDS.choices[name]
    summaries = {a.dest: a.help for a in COMMANDS._choices_actions}
    assert summaries[name] and command.description
    for action in options(command):
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    text = command.format_help()
    assert "(default:" in text or not any(a.option_strings for a in options(command)), name


@pytest.mark.parametrize("name", sorted(COMMANDS.choices))
def test_every_command_names_the_settings_it_reads(name):
    text = COMMANDS.choices[name].format_help()
    named = set(re.findall(r"STREAMAPP_[A-Z_]+", text)) - {"STREAMAPP_"}
    fields = {env_name(field) for field in Settings.model_fields}
    assert {env_name(s) for s in ENVIRONMENT[name]} <= named
    assert named <= fields, named - fields


def test_version_is_the_installed_package(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"streamapp \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
