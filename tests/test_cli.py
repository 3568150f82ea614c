"""The command surface: every subcommand answers --help, and bad usage gives exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vidfake.cli import build_parser, main

COMMANDS = [
    ["blinks"],
    ["demo"],
    ["eval"],
    ["score"],
    ["shards", "build"],
    ["shards", "info"],
    ["train"],
]


def test_top_level_help_lists_working_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in COMMANDS:
        assert cmd[0] in out
    assert "exit codes" in out


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: vidfake" in capsys.readouterr().out


def test_no_command_and_unknown_command_are_usage_errors(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "vidfake.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("vidfake ")


def test_registered_subcommands_match_the_list():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted({c[0] for c in COMMANDS})
