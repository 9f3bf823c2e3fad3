"""The `dranet` command: help for every sub-command, and user mistakes as one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

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


def _one_line(done, *fragments):
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and all(f in done.stderr for f in fragments), done.stderr


def test_output_paths_under_a_file_are_refused_before_the_model_loads(tmp_path):
    (tmp_path / "afile").write_text("x")
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 16)).save(images / "a.jpg")
    missing_model = str(tmp_path / "no.keras")  # checked only after the outputs
    done = _dranet("export", "--model", missing_model, "--out", str(tmp_path / "afile" / "exp"), cwd=tmp_path)
    _one_line(done, "cannot write", "afile is a file, not a folder")
    done = _dranet("embed", "--model", missing_model, "--images", str(images), "--out", str(tmp_path / "afile" / "x.npy"), cwd=tmp_path)
    _one_line(done, "cannot write", "afile is a file, not a folder")


def test_embed_refuses_an_image_over_the_pixel_limit_before_the_model_loads(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 16)).save(images / "a.jpg")
    Image.new("RGB", (100, 100)).save(images / "b.png")
    done = _dranet(
        "embed", "--model", str(tmp_path / "no.keras"), "--images", str(images), "--out", str(tmp_path / "x.npy"),
        "--max-pixels", "5000", cwd=tmp_path,
    )
    _one_line(done, "b.png has 100x100 pixels, more than data.max_image_pixels=5000")


def test_check_writable_probes_a_read_only_folder(tmp_path, monkeypatch):
    from dranet_keras.errors import UserError
    from dranet_keras.io import check_writable

    check_writable(tmp_path / "new" / "deeper" / "x.npy")  # missing folders are fine
    assert not (tmp_path / "new").exists()

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(UserError, match="cannot write .*x.npy: .* is not writable \\(Read-only file system\\)"):
        check_writable(tmp_path / "x.npy")
