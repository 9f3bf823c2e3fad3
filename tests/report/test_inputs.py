"""Every malformed input of the report, as the config table does for the config: `dranet report`
exits 2 with one line naming the file and the key, before the attention figures load a model."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from dranet_keras import cli
from dranet_keras.config import Config, config_to_dict
from dranet_keras.report import context

from .pipeline_fixtures import PAPER_RESULTS, write_outputs

RUN = Path("results/dra/seed0")
META = Path("models/dra/seed0/train_meta.json")


def _json(path: Path, edit) -> None:
    values = json.loads(path.read_text())
    edit(values)
    path.write_text(json.dumps(values))


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels (PIL reads only the header at open)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def _first_query_image(root: Path) -> Path:
    return root / json.loads((root / RUN / "rankings.json").read_text())["queries"][0]["path"]


def _without_model(values):
    del values["config"]["model"]


# case -> (how it spoils a fixture tree, the file the message names, what it says about the key)
CASES = {
    "string distances": (lambda root: _json(root / RUN / "rankings.json", lambda v: v["queries"][0]["top"][0].update(distance="0.1")),
                         "rankings.json", "key 'queries[0].top[0].distance' must be a number"),
    "a dict for queries": (lambda root: _json(root / RUN / "rankings.json", lambda v: v.update(queries={"path": "x.png"})),
                           "rankings.json", "key 'queries' must be a list"),
    "a query without path": (lambda root: _json(root / RUN / "rankings.json", lambda v: v["queries"][1].pop("path")),
                             "rankings.json", "key 'queries[1].path' must be str, got None"),
    "a 178 Mpx thumbnail": (lambda root: _png_header(_first_query_image(root), 17800, 10000),
                            ".png", "more than 50000000 pixels"),
    "a non-numeric cmc.csv": (lambda root: (root / RUN / "cmc.csv").write_text("rank,accuracy\n1,0.5\n2,high\n"),
                              "cmc.csv", "column 'accuracy' must hold numbers, row 2 holds 'high'"),
    "a string wall_time_s": (lambda root: _json(root / META, lambda v: v.update(wall_time_s="12 s")),
                             "train_meta.json", "key 'wall_time_s' must be a number of seconds, got '12 s'"),
    "a config without model": (lambda root: _json(root / RUN / "metrics.json", _without_model),
                               "metrics.json", "key 'config' lacks model"),
    "a list as metrics.config": (lambda root: _json(root / RUN / "metrics.json", lambda v: v.update(config=[1, 2])),
                                 "metrics.json", "key 'config' must be an object"),
    "an invalid value in the config": (lambda root: _json(root / RUN / "metrics.json", lambda v: v["config"]["train"].update(epochs=0)),
                                       "metrics.json", "key 'config': train.epochs: expected a value >= 1"),
    "a garbage dvc.lock": (lambda root: (root / "dvc.lock").write_bytes(b"stages:\n  train: [\x01 oops\n"),
                           "dvc.lock", "cannot read YAML"),
    "a dvc.lock whose stages are a list": (lambda root: (root / "dvc.lock").write_text("stages: [prepare, train]\n"),
                                           "dvc.lock", "key 'stages' must map stage names"),
    "a dvc.lock stage without a deps list": (lambda root: (root / "dvc.lock").write_text("stages:\n  train:\n    deps: 3\n"),
                                             "dvc.lock", "key 'stages.train.deps' must be a list of mappings"),
}


def _report(root: Path, monkeypatch, capsys) -> tuple[int, str]:
    """`dranet report` in `root`; the attention figures (which load a model) must not be reached
    before the inputs are refused, so they fail the test if they are."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(context, "attention_from_files", lambda *args: (None, "attention skipped by the test"))
    rc = cli.main(["report", "--paper-results", str(PAPER_RESULTS), "--output-dir", str(root / "reports")])
    return rc, capsys.readouterr().err


@pytest.fixture
def tree(tmp_path):
    """A fixture pipeline tree whose stage records hold the whole effective configuration."""
    return write_outputs(tmp_path / "repo", variants=("baseline", "dra"), config=config_to_dict(Config()))


def test_the_fixture_tree_renders(tree, monkeypatch, capsys):
    """The cases below fail because of what they spoil, not because of the tree."""
    assert _report(tree, monkeypatch, capsys) == (0, "")
    assert (tree / "reports" / "index.html").is_file()


@pytest.mark.parametrize("case", CASES)
def test_every_malformed_input_is_one_line_naming_file_and_key(tree, monkeypatch, capsys, case):
    spoil, file, key = CASES[case]
    spoil(tree)
    monkeypatch.setattr(context, "attention_from_files", lambda *args: pytest.fail("the model loaded first"))
    monkeypatch.chdir(tree)
    rc = cli.main(["report", "--paper-results", str(PAPER_RESULTS), "--output-dir", str(tree / "reports")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("dranet report: error: "), err
    assert file in err and key in err, err
    assert not (tree / "reports").exists()  # refused before anything is written
