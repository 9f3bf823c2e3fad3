"""The `dranet` command: help for every sub-command, and user mistakes as one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dranet_keras.cli import COMMANDS, build_parser, main

DRANET = Path(sys.executable).with_name("dranet")  # the console script pip installed


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_command_and_the_exit_codes(capsys):
    text = _help(["--help"], capsys)
    for name, summary in COMMANDS.items():
        assert name in text and summary[:40] in " ".join(text.split())
    assert "exit codes:" in text and "130" in text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_its_description(name, capsys):
    text = _help([name, "--help"], capsys)
    assert f"usage: dranet {name}" in text
    assert "exit codes:" in text
    docstring_start = " ".join(__import__(f"dranet_keras.stages.{name}", fromlist=["_"]).__doc__.split())[:40]
    assert docstring_start in " ".join(text.split())


def test_commands_that_read_the_config_accept_params_and_set():
    commands = build_parser()._subparsers._group_actions[0].choices
    for name, parser in commands.items():
        options = {option for action in parser._actions for option in action.option_strings}
        expects_config = getattr(__import__(f"dranet_keras.stages.{name}", fromlist=["_"]), "USES_CONFIG", True)
        assert ({"--params", "--set"} <= options) == expects_config, name


def _dranet(*args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([str(DRANET), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_unknown_set_key_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    done = _dranet("demo", "--set", "train.epochz=3", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "'train.epochz'" in done.stderr and "epochs" in done.stderr  # names the key and the valid ones


def test_badly_typed_set_value_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    done = _dranet("demo", "--set", "train.epochs=many", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "train.epochs" in done.stderr and "expected int" in done.stderr


def test_missing_params_file_is_one_line_and_exit_2(tmp_path):
    done = _dranet("demo", "--params", "nowhere.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "nowhere.yaml" in done.stderr and "Traceback" not in done.stderr


def test_unknown_command_is_a_usage_error_exit_2(tmp_path):
    done = _dranet("tran", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'tran'" in done.stderr
