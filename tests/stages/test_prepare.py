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


def test_new_images_under_the_same_paths_change_stats_json_not_the_manifest(tmp_path):
    """data.synthetic_height 64 -> 72 regenerates every image under its old name: manifest.csv
    stays byte for byte, stats.json's images_sha256 (a DVC dependency of every later stage) changes."""
    out = tmp_path / "prepared" / "synthetic"
    digests, manifests = [], []
    for height in (64, 72, 64):
        assert main(prepare_args(tmp_path, [*TINY, f"data.root={tmp_path / 'synthetic'}", f"data.synthetic_height={height}"])) == 0
        manifests.append((out / "manifest.csv").read_bytes())
        digests.append(json.loads((out / "stats.json").read_text())["images_sha256"])
    assert manifests[0] == manifests[1] == manifests[2]
    assert digests[0] != digests[1] and digests[0] == digests[2]


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


def _market_with(tmp_path, name, save):
    root = make_tree(tmp_path / "market", MARKET_FILES)
    save(root / "query" / name)
    return root, prepare_args(tmp_path, ["data.name=market1501", f"data.root={root}"])


def test_a_format_tensorflow_cannot_decode_is_refused_whatever_its_name(tmp_path, capsys):
    root, args = _market_with(tmp_path, "0004_c2s1_000201_00.jpg", lambda p: Image.new("RGB", (8, 16)).save(p, format="WEBP"))
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "0004_c2s1_000201_00.jpg is not a JPEG/PNG/BMP/GIF file" in error
    with pytest.warns(UserWarning, match="skipping image .*0004_c2s1_000201_00.jpg: it is not a JPEG"):
        assert main(args + ["--set", "data.skip_corrupt=true"]) == 0
    assert len(read_manifest(tmp_path / "prepared" / "market1501" / "manifest.csv").query) == 1


@pytest.mark.parametrize("mode, bits", [("P", 8), ("1", 1)])  # Pillow writes no 4-bit BMP
def test_bmps_tensorflow_decodes_wrongly_are_refused(tmp_path, capsys, mode, bits):
    """Palette BMPs come out of tf.io.decode_bmp as grey indices, 1-bit ones as an error."""
    import numpy as np

    def save(path):
        image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 8, 3), dtype=np.uint8))
        image = image.convert("1") if mode == "1" else image.quantize(256)
        image.save(path, format="BMP")
        with open(path, "rb") as handle:
            assert int.from_bytes(handle.read(30)[28:30], "little") == bits  # what Pillow wrote

    root, args = _market_with(tmp_path, "0004_c2s1_000201_00.jpg", save)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"0004_c2s1_000201_00.jpg is a {bits}-bit BMP, which TensorFlow decodes wrongly" in error


def test_a_24_bit_bmp_passes(tmp_path):
    root, args = _market_with(tmp_path, "0004_c2s1_000201_00.jpg", lambda p: Image.new("RGB", (8, 16), (9, 99, 199)).save(p, format="BMP"))
    assert main(args) == 0


def test_images_over_the_pixel_limit_are_refused_or_skipped(tmp_path, capsys):
    root, args = _market_with(tmp_path, "0004_c2s1_000201_00.png", lambda p: Image.new("RGB", (40, 30)).save(p))
    (root / "query" / "0004_c2s1_000201_00.jpg").unlink()
    args += ["--set", "data.max_image_pixels=1000"]  # the 16x8 images pass, the 40x30 one does not
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "has 40x30 pixels, more than data.max_image_pixels=1000" in error
    with pytest.warns(UserWarning, match="skipping image .*0004_c2s1_000201_00.png: it has 40x30 pixels"):
        assert main(args + ["--set", "data.skip_corrupt=true"]) == 0


def test_pillows_own_bomb_limit_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    from dranet_keras.data.images import image_problem

    path = tmp_path / "big.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow raises at 2x this: 10000 > 2000
    problem = image_problem(path, max_pixels=10**9)
    assert problem.startswith("has more pixels than data.max_image_pixels=1000000000 allows")
