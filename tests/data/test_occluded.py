"""Readers of the occluded and partial sets on fake trees: exact counts, pid and camera
conventions, junk and distractors, the evaluation-only (empty) train split, one clear error per
mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .fake_trees import (
    DUKE_FOR_OCCLUDED_FILES,
    OCCLUDED_DUKE_LISTS,
    OCCLUDED_REID_FILES,
    P_DUKEMTMC_FILES,
    PARTIAL_REID_FILES,
    make_occluded_duke_lists,
    make_tree,
    write_image,
)
from dranet_keras.data import load_dataset
from dranet_keras.data.errors import DatasetError


def triples(records):
    return [(Path(r.path).name, r.pid, r.camid) for r in records]


def test_occluded_reid_converts_tiff_once_and_puts_query_and_gallery_in_two_cameras(tmp_path):
    root = make_tree(tmp_path / "Occluded_REID", OCCLUDED_REID_FILES)
    png = tmp_path / "png"
    split = load_dataset("occluded_reid", tmp_path, images_dir=png)  # the wrapping folder is found
    assert split.train == []
    # Query: the junk folder (-1) dropped; every query in camera 0.
    assert triples(split.query) == [("001_01.png", 1, 0), ("001_02.png", 1, 0), ("002_01.png", 2, 0)]
    # Gallery: every image in camera 1, the distractor (pid 0) kept, the gallery-only id 3 too.
    assert triples(split.gallery) == [
        ("000_01.png", 0, 1), ("001_01.png", 1, 1), ("001_02.png", 1, 1), ("002_01.png", 2, 1), ("002_02.png", 2, 1),
        ("003_01.png", 3, 1),
    ]
    assert split.query[0].path == str(png / "occluded_body_images" / "001" / "001_01.png")
    converted = sorted(png.rglob("*.png"))
    assert len(converted) == 3 + 6 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in converted)
    stamps = [p.stat().st_mtime_ns for p in converted]
    assert load_dataset("occluded_reid", root, images_dir=png) == split
    assert [p.stat().st_mtime_ns for p in converted] == stamps  # converted once
    assert not list(root.rglob("*.png"))  # nothing written into the user's copy


def test_occluded_reid_jpeg_copies_are_read_as_they_are(tmp_path):
    files = {folder: [name.replace(".tif", ".jpg") for name in names] for folder, names in OCCLUDED_REID_FILES.items()}
    root = make_tree(tmp_path / "Occluded_REID", files)
    split = load_dataset("occluded_reid", root, images_dir=tmp_path / "png")
    assert (len(split.train), len(split.query), len(split.gallery)) == (0, 3, 6)
    assert split.query[0].path == str(root / "occluded_body_images" / "001" / "001_01.jpg")
    assert not (tmp_path / "png").exists()


def test_partial_reid_reads_the_partial_images_as_queries(tmp_path):
    root = make_tree(tmp_path / "Partial_REID", PARTIAL_REID_FILES)
    split = load_dataset("partial_reid", root)
    assert split.train == []
    assert triples(split.query) == [("001_01.jpg", 1, 0), ("001_02.jpg", 1, 0), ("002_01.jpg", 2, 0)]
    assert all("partial_body_images" in r.path for r in split.query)
    assert triples(split.gallery) == [("000_01.jpg", 0, 1), ("001_01.jpg", 1, 1), ("002_01.jpg", 2, 1), ("002_02.jpg", 2, 1)]


def test_p_dukemtmc_trains_on_both_folders_and_tests_occluded_against_whole(tmp_path):
    root = make_tree(tmp_path / "P-DukeMTMC-reID", P_DUKEMTMC_FILES)
    split = load_dataset("p_dukemtmc", root)
    # Train: pids 5, 9 (whole, camera 1) and 5, 12 (occluded, camera 0) -> 0, 1, 2 over both.
    assert triples(split.train) == [
        ("0005_a.jpg", 0, 1), ("0005_b.jpg", 0, 1), ("0009_a.jpg", 1, 1), ("0005_c.jpg", 0, 0), ("0012_a.jpg", 2, 0),
    ]
    assert split.num_train_ids == 3
    assert triples(split.query) == [("0020_a.jpg", 20, 0)]
    assert triples(split.gallery) == [("0020_b.jpg", 20, 1), ("0020_c.jpg", 20, 1), ("0031_a.jpg", 31, 1)]


def test_occluded_dukemtmc_lists_over_a_dukemtmc_copy(tmp_path):
    root = make_occluded_duke_lists(tmp_path / "Occluded_Duke")
    duke = root / "DukeMTMC-reID"
    split = load_dataset("occluded_dukemtmc", root)
    # Train: pids 1, 3, 8 -> 0, 1, 2; cameras c1, c3, c7 -> 0, 2, 6; sorted by name.
    assert triples(split.train) == [("0001_c1_f0000001.jpg", 0, 0), ("0003_c3_f0000003.jpg", 1, 2), ("0008_c7_f0000015.jpg", 2, 6)]
    assert triples(split.query) == [("0005_c5_f0000013.jpg", 5, 4), ("0007_c2_f0000011.jpg", 7, 1)]
    assert triples(split.gallery) == [("0005_c4_f0000012.jpg", 5, 3), ("0007_c6_f0000014.jpg", 7, 5)]
    # Names missing from their own folder are found in bounding_box_test, as the authors' script looks.
    assert split.query[0].path == str(duke / "bounding_box_test" / "0005_c5_f0000013.jpg")
    assert split.query[1].path == str(duke / "query" / "0007_c2_f0000011.jpg")
    assert split.train[2].path == str(duke / "bounding_box_test" / "0008_c7_f0000015.jpg")


def test_occluded_dukemtmc_lists_equal_the_converted_tree(tmp_path):
    """Reading the lists gives what reading the tree convert_duke_to_occduke.py writes gives."""
    lists = make_occluded_duke_lists(tmp_path / "lists")
    converted = tmp_path / "converted" / "Occluded_Duke"
    every_image = {name: folder for folder, names in DUKE_FOR_OCCLUDED_FILES.items() for name in names}
    for split, folder in (("train", "bounding_box_train"), ("query", "query"), ("gallery", "bounding_box_test")):
        for name in OCCLUDED_DUKE_LISTS[split]:
            (converted / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(lists / "DukeMTMC-reID" / every_image[name] / name, converted / folder / name)
        shutil.copy(lists / f"{split}.list", converted / f"{split}.list")  # the script leaves them there
    from_lists, from_tree = load_dataset("occluded_dukemtmc", lists), load_dataset("occluded_dukemtmc", converted.parent)
    for name in ("train", "query", "gallery"):
        assert triples(getattr(from_lists, name)) == triples(getattr(from_tree, name)), name
    assert all(str(converted) in r.path for r in from_tree.query)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda root: (root / "query.list").write_text("0007_c2_f0000011.jpg\n0009_c1_f0000099.jpg\n"),
         r"query.list:2: 0009_c1_f0000099.jpg is in neither .*query nor .*bounding_box_test"),
        (lambda root: (root / "gallery.list").write_text("../query/0007_c2_f0000011.jpg\n"),
         r"gallery.list:1: '../query/0007_c2_f0000011.jpg' is not a bare file name"),
        (lambda root: (root / "train.list").write_bytes(bytes(range(128, 256))), r"train.list: not a text file"),
        (lambda root: (root / "gallery.list").unlink(), r"gallery.list: file not found"),
        (lambda root: (root / "query.list").write_text("\n"), r"query.list: no images found"),
    ],
)
def test_occluded_dukemtmc_list_errors_name_the_list_and_line(tmp_path, mutate, message):
    root = make_occluded_duke_lists(tmp_path / "Occluded_Duke")
    mutate(root)
    with pytest.raises(DatasetError, match=message):
        load_dataset("occluded_dukemtmc", root)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda root: shutil.rmtree(root / "whole_body_images"), r"whole_body_images: folder not found"),
        (lambda root: write_image(root / "whole_body_images" / "004" / "front.tif"),
         r"front.tif: file name has no '<pid>_' prefix"),
        (lambda root: write_image(root / "whole_body_images" / "004" / "004_01.tif").write_bytes(b"not an image"),
         r"004_01.tif: cannot be converted to PNG"),
        (lambda root: write_image(root / "occluded_body_images" / "x" / "alice_01.tif"),
         r"alice_01.tif: person id 'alice' is not a decimal integer"),
        (lambda root: [p.unlink() for p in (root / "occluded_body_images").rglob("*.tif")],
         r"occluded_body_images: no images found"),
    ],
)
def test_occluded_reid_errors_name_the_file(tmp_path, mutate, message):
    root = make_tree(tmp_path / "Occluded_REID", OCCLUDED_REID_FILES)
    mutate(root)
    with pytest.raises(DatasetError, match=message):
        load_dataset("occluded_reid", root, images_dir=tmp_path / "png")


def test_partial_reid_without_its_query_folder_is_one_line(tmp_path):
    root = make_tree(tmp_path / "Partial_REID", {"whole_body_images": ["001_01.jpg"]})
    with pytest.raises(DatasetError, match=r"partial_body_images: folder not found; expected layout: <root>/\{partial_body_images"):
        load_dataset("partial_reid", root)
