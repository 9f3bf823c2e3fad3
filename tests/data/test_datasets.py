"""Readers on fake trees: exact counts, the re-id conventions, one clear error per mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .fake_trees import MARKET_FILES, make_tree, write_image
from dranet_keras.data import Record, load_dataset
from dranet_keras.data.errors import DatasetError


def test_market1501_counts_and_conventions(market_root):
    split = load_dataset("market1501", market_root)
    # Train: 5 images of pids 2, 7, 10 -> relabelled 0, 1, 2 in sorted order; camids 0-based.
    assert [(Path(r.path).name, r.pid, r.camid) for r in split.train] == [
        ("0002_c1s1_000451_03.jpg", 0, 0),
        ("0002_c3s1_000551_01.jpg", 0, 2),
        ("0007_c2s1_000301_00.jpg", 1, 1),
        ("0007_c5s2_000311_02.jpg", 1, 4),
        ("0010_c6s1_001001_00.jpg", 2, 5),
    ]
    assert split.num_train_ids == 3
    # Query: the junk (-1) image is dropped; original pids are kept.
    assert [(r.pid, r.camid) for r in split.query] == [(3, 0), (4, 1)]
    # Gallery: two junk images dropped, the distractor (pid 0) kept; no 500k extras by default.
    assert sorted((r.pid, r.camid) for r in split.gallery) == [(0, 2), (3, 1), (3, 3), (4, 0)]
    assert all(isinstance(r, Record) for r in split.train + split.query + split.gallery)


def test_market1501_extra_gallery_and_wrapper_folder(market_root):
    # Pointing at the folder that wraps the data set works too.
    split = load_dataset("market1501", market_root.parent, extra_gallery=True)
    assert len(split.gallery) == 6
    assert sum(r.pid == 0 for r in split.gallery) == 3


def test_dukemtmc_eight_cameras(tmp_path):
    files = {
        "bounding_box_train": ["0001_c1_f0000001.jpg", "0001_c8_f0000002.jpg", "0005_c2_f0000003.jpg"],
        "query": ["0009_c7_f0000004.jpg"],
        "bounding_box_test": ["0009_c8_f0000005.jpg", "0011_c3_f0000006.jpg"],
    }
    split = load_dataset("dukemtmc", make_tree(tmp_path / "DukeMTMC-reID", files))
    assert [(r.pid, r.camid) for r in split.train] == [(0, 0), (0, 7), (1, 1)]
    assert [(r.pid, r.camid) for r in split.query] == [(9, 6)]
    assert [(r.pid, r.camid) for r in split.gallery] == [(9, 7), (11, 2)]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda root: shutil.rmtree(root), "folder not found"),
        (lambda root: shutil.rmtree(root / "query"), "query: folder not found"),
        (lambda root: write_image(root / "bounding_box_test" / "img_001.jpg"), "img_001.jpg: file name does not parse"),
        (lambda root: [p.unlink() for p in (root / "bounding_box_train").glob("*.jpg")], "bounding_box_train: no images"),
    ],
)
def test_market1501_errors_name_the_path_and_layout(market_root, mutate, message):
    mutate(market_root)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset("market1501", market_root)
    assert "expected" in str(info.value)


def test_msmt17_lists_train_plus_val(tmp_path):
    root = tmp_path / "MSMT17_V1"
    lists = {
        "train": ["0000/0000_000_01_0303morning_0015_0.jpg 0", "0000/0000_001_05_0303morning_0016_0.jpg 0",
                  "0001/0001_000_15_0303noon_0001_0.jpg 1"],
        "val": ["0002/0002_000_03_0303noon_0002_0.jpg 2"],
        "query": ["0000/0000_000_02_0303morning_0020_0.jpg 0"],
        "gallery": ["0000/0000_001_09_0303morning_0021_0.jpg 0", "0001/0001_002_02_0303noon_0022_0.jpg 1"],
    }
    for name, lines in lists.items():
        folder = root / ("test" if name in ("query", "gallery") else "train")
        for line in lines:
            write_image(folder / line.split()[0])
        root.joinpath(f"list_{name}.txt").write_text("\n".join(lines) + "\n")
    split = load_dataset("msmt17", root)
    assert [(r.pid, r.camid) for r in split.train] == [(0, 0), (0, 4), (1, 14), (2, 2)]
    assert [(r.pid, r.camid) for r in split.query] == [(0, 1)]
    assert [(r.pid, r.camid) for r in split.gallery] == [(0, 8), (1, 1)]
    assert split.train[0].path == str(root / "train" / "0000/0000_000_01_0303morning_0015_0.jpg")
    assert len(load_dataset("msmt17", root, include_val=False).train) == 3
    root.joinpath("list_query.txt").write_text("0000/broken.jpg\n")
    with pytest.raises(DatasetError, match=r"list_query.txt:1: cannot parse"):
        load_dataset("msmt17", root)


def test_folder_layout_with_and_without_camera_ids(tmp_path):
    files = {
        "train/0007": ["cam2_a.jpg", "cam1_b.jpg"],
        "train/0003": ["cam1_c.jpg"],
        "query/0011": ["cam2_d.jpg"],
        "gallery/0011": ["cam1_e.jpg", "cam3_f.jpg"],
        "gallery/0000": ["cam3_g.jpg"],
        "gallery/-1": ["cam3_h.jpg"],
    }
    root = make_tree(tmp_path / "mine", files)
    split = load_dataset("folder", root)
    # Cameras cam1, cam2, cam3 -> 0, 1, 2; train pids 3, 7 -> 0, 1; junk folder -1 dropped.
    assert [(Path(r.path).name, r.pid, r.camid) for r in split.train] == [
        ("cam1_c.jpg", 0, 0), ("cam1_b.jpg", 1, 0), ("cam2_a.jpg", 1, 1)]
    assert [(r.pid, r.camid) for r in split.query] == [(11, 1)]
    assert [(r.pid, r.camid) for r in split.gallery] == [(0, 2), (11, 0), (11, 2)]
    alone = load_dataset("folder", root, camera_ids=False)
    camids = [r.camid for r in alone.train + alone.query + alone.gallery]
    assert sorted(camids) == list(range(len(camids)))  # every image its own camera
    write_image(root / "query" / "alice" / "cam1_x.jpg")
    with pytest.raises(DatasetError, match="alice: person id .alice. is not a decimal integer"):
        load_dataset("folder", root)


def test_unknown_name_and_option(market_root):
    with pytest.raises(DatasetError, match="unknown data set 'market'"):
        load_dataset("market", market_root)
    with pytest.raises(DatasetError, match="invalid options"):
        load_dataset("market1501", market_root, colour=True)


def test_config_accepts_exactly_the_registry_names():
    """The validator reads the registry's list: every reader's name is valid, others are not."""
    from dranet_keras.config import ConfigError, config_from_dict
    from dranet_keras.data.datasets import READERS

    for name in (*READERS, "synthetic"):
        assert config_from_dict({"data": {"name": name}}).data.name == name
    with pytest.raises(ConfigError, match="data.name: 'market'"):
        config_from_dict({"data": {"name": "market"}})


@pytest.mark.parametrize(
    "folders, message",
    [
        (["1", "01"], r"person folder '1' and .*01 are both pid 1"),
        (["1", "\u0663"], r"person id '\u0663' is not a decimal integer in ASCII digits"),
        (["1", "+1"], r"person id '\+1' is not a decimal integer"),
        (["1", "12345678901234567890123"], r"person id 12345678901234567890123 is out of range"),
        (["1", "-2"], r"person id -2 is out of range"),
    ],
)
def test_folder_pids_are_exact_integers(tmp_path, folders, message):
    root = tmp_path / "mine"
    for pid in folders:
        write_image(root / "train" / pid / "cam1_a.jpg")
    for split in ("query", "gallery"):
        write_image(root / split / "3" / "cam2_b.jpg")
    with pytest.raises(DatasetError, match=message):
        load_dataset("folder", root)


def test_zero_padding_is_fine_when_every_split_spells_the_id_alike(tmp_path):
    root = tmp_path / "mine"
    for split, pid in (("train", "0007"), ("query", "0011"), ("gallery", "0011")):
        write_image(root / split / pid / "cam1_a.jpg")
    assert [r.pid for r in load_dataset("folder", root).query] == [11]
    write_image(root / "gallery" / "11" / "cam2_a.jpg")
    with pytest.raises(DatasetError, match="'11' and .*0011 are both pid 11"):
        load_dataset("folder", root)


@pytest.mark.parametrize(
    "name, message",
    [
        ("0002_c0s1_000452_03.jpg", r"camera number '0' is not an integer >= 1"),
        ("12345678901234567890123_c1s1_000452_03.jpg", "person id 12345678901234567890123 is out of range"),
        ("\u0663_c1s1_000452_03.jpg", "file name does not parse"),
    ],
)
def test_market_camera_numbers_start_at_1_and_pids_fit_int64(market_root, name, message):
    write_image(market_root / "bounding_box_train" / name)
    with pytest.raises(DatasetError, match=message):
        load_dataset("market1501", market_root)


def test_msmt17_binary_list_and_camera_0_are_one_line_errors(tmp_path):
    root = tmp_path / "msmt"
    for name in ("train", "test"):
        (root / name).mkdir(parents=True)
    for name in ("train", "val", "query", "gallery"):
        (root / f"list_{name}.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n")
    (root / "list_query.txt").write_text("0000/0000_000_00_0303morning_0015_0.jpg 0\n")
    with pytest.raises(DatasetError, match=r"list_query.txt:1: camera number '00' is not an integer >= 1"):
        load_dataset("msmt17", root)
    (root / "list_train.txt").write_bytes(bytes(range(128, 256)))
    with pytest.raises(DatasetError, match=r"list_train.txt: not a text file"):
        load_dataset("msmt17", root)


def test_folder_cameras_1_and_01_are_two_cameras_in_one_order(tmp_path):
    """Numeric order first, then spelling: the manifest does not depend on PYTHONHASHSEED."""
    import os
    import subprocess
    import sys

    files = {"train/0001": ["1_a.jpg", "01_b.jpg"], "train/0002": ["01_c.jpg"], "query/0003": ["1_d.jpg"], "gallery/0003": ["01_e.jpg"]}
    root = make_tree(tmp_path / "mine", files)
    split = load_dataset("folder", root)
    assert [(Path(r.path).name, r.camid) for r in split.train] == [("01_b.jpg", 0), ("1_a.jpg", 1), ("01_c.jpg", 0)]
    code = (f"from dranet_keras.data import load_dataset; s = load_dataset('folder', {str(root)!r}); "
            "print([r.camid for r in s.train + s.query + s.gallery])")
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                           capture_output=True, text=True, check=True).stdout for seed in (0, 1, 2, 3)}
    assert seen == {"[0, 1, 0, 1, 0]\n"}


def test_a_file_name_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    import os

    root = make_tree(tmp_path / "mine", {"train/0001": ["c1_a.jpg"], "train/0002": ["c1_b.jpg"], "query/0003": ["c1_c.jpg"],
                                          "gallery/0003": ["c2_d.jpg"]})
    write_image(Path(os.fsdecode(bytes(root / "train" / "0001") + b"/c2_\xff.jpg")))
    with pytest.raises(DatasetError, match=r"0001/c2_\\xff.jpg: file name is not UTF-8; rename it") as error:
        load_dataset("folder", root)
    str(error.value).encode("utf-8")  # the message itself prints anywhere
