"""`dranet prepare` on a tiny synthetic set and on a fake Market-1501 tree with a corrupt image."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from dranet_keras.cli import main
from dranet_keras.data.manifest import read_manifest
from tests.data.fake_trees import MARKET_FILES, make_tree

TINY = [
    "data.synthetic_train_ids=4", "data.synthetic_test_ids=3", "data.synthetic_cameras=3",
    "data.synthetic_images_per_camera=2", "data.synthetic_distractors=2",
]


def prepare_args(tmp_path, overrides, *flags):
    """`dranet prepare` arguments writing under tmp_path (defaults otherwise)."""
    (tmp_path / "none.yaml").write_text("{}\n")
    overrides = [f"data.prepared_dir={tmp_path / 'prepared'}", f"data.extract_dir={tmp_path / 'raw'}", *overrides]
    return ["prepare", "--params", str(tmp_path / "none.yaml"), *flags, *sum((["--set", o] for o in overrides), [])]


def test_prepare_synthetic_with_preview(tmp_path):
    assert main(prepare_args(tmp_path, [*TINY, f"data.root={tmp_path / 'synthetic'}"], "--preview")) == 0
    out = tmp_path / "prepared" / "synthetic"
    split = read_manifest(out / "manifest.csv")
    # 4 train ids x 3 cameras x 2; query: 3 test ids x 3 cameras x 1; gallery: the rest + 2 distractors.
    assert (len(split.train), len(split.query), len(split.gallery)) == (24, 9, 11)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["synthetic"] is True and stats["num_train_ids"] == 4 and stats["gallery"]["distractors"] == 2
    assert stats["train"]["per_camera"] == {"0": 8, "1": 8, "2": 8}
    with Image.open(out / "preview.png") as sheet:
        assert sheet.width > 3 * 64 and sheet.height > 3 * 128  # 3 ids x 3 cameras of 128x64


def test_prepare_reports_corrupt_images(tmp_path, capsys):
    root = make_tree(tmp_path / "market", MARKET_FILES)
    bad = root / "query" / "0003_c1s1_000101_00.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated JPEG
    args = prepare_args(tmp_path, ["data.name=market1501", f"data.root={root}"])
    assert main(args) == 2
    assert "0003_c1s1_000101_00.jpg" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="skipping image .*0003_c1s1_000101_00.jpg: it cannot be decoded"):
        assert main(args + ["--set", "data.skip_corrupt=true"]) == 0
    split = read_manifest(tmp_path / "prepared" / "market1501" / "manifest.csv")
    assert (len(split.train), len(split.query), len(split.gallery)) == (5, 1, 4)
