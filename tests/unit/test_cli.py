"""The CLI speaks to people: every command says what it does, every option has help (and shows
its default), each command names the STREAMAPP_* settings it reads."""

from __future__ import annotations

import argparse
import re

import pytest

from streamapp.cli.main import build_parser, main
from streamapp.cli.parsing import env_name
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
    valued = [a for a in options(command) if a.option_strings and a.nargs != 0]
    assert "(default:" in text or not valued, name


@pytest.mark.parametrize("name", sorted(COMMANDS.choices))
def test_every_command_names_the_settings_it_reads(name):
    text = COMMANDS.choices[name].format_help()
    named = set(re.findall(r"STREAMAPP_[A-Z0-9_]+", text)) - {"STREAMAPP_"}
    fields = {env_name(field) for field in Settings.model_fields}
    assert {env_name(s) for s in COMMANDS.choices[name].get_default("reads")} <= named
    assert named <= fields, named - fields


def test_every_command_that_reads_a_log_takes_the_same_dataset_flags():
    readers = {
        name: {o for a in options(command) for o in a.option_strings}
        for name, command in COMMANDS.choices.items()
        if "--dataset" in {o for a in options(command) for o in a.option_strings}
    }
    assert set(readers) == {"evaluate", "replay"}
    for flags in readers.values():
        assert {"--dataset", "--path", "--head", "--tail"} <= flags
    args = PARSER.parse_args(["replay", "--dataset", "rees46", "--tail", "5"])
    assert (args.dataset, args.head, args.tail) == ("rees46", 0, 5)
    with pytest.raises(SystemExit):
        PARSER.parse_args(["evaluate", "--head", "1", "--tail", "1"])


def test_version_is_the_installed_package(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"streamapp \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
