"""Fake data set trees for the data tests (tiny but valid images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size=(16, 8), value: int = 128) -> Path:
    """A small valid JPEG/PNG (format from the suffix) of `size` (height, width)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((*size, 3), value, dtype=np.uint8)
    pixels[: size[0] // 2] = 255 - value
    Image.fromarray(pixels).save(path)
    return path


def make_tree(root: Path, files: dict[str, list[str]]) -> Path:
    """Write an image for every name in `files` (folder -> file names) under `root`."""
    for folder, names in files.items():
        for name in names:
            write_image(root / folder / name)
    return root


MARKET_FILES = {
    "bounding_box_train": [
        "0002_c1s1_000451_03.jpg",
        "0002_c3s1_000551_01.jpg",
        "0007_c2s1_000301_00.jpg",
        "0007_c5s2_000311_02.jpg",
        "0010_c6s1_001001_00.jpg",
    ],
    "query": ["0003_c1s1_000101_00.jpg", "0004_c2s1_000201_00.jpg", "-1_c1s1_000001_00.jpg"],
    "bounding_box_test": [
        "0003_c2s1_000102_00.jpg",
        "0003_c4s1_000103_00.jpg",
        "0004_c1s1_000202_00.jpg",
        "0000_c3s1_000000_00.jpg",
        "-1_c1s1_000002_00.jpg",
        "-1_c5s1_000003_00.jpg",
    ],
    "images": ["0000_c1s1_500000_00.jpg", "0000_c2s1_500001_00.jpg"],
}

# Occluded-REID as released: one folder per person, TIFF images (VlSomers/bpbreid globs */*.tif).
# The junk (-1) query folder and the distractor (0) gallery folder test the shared rules.
OCCLUDED_REID_FILES = {
    "occluded_body_images/001": ["001_01.tif", "001_02.tif"],
    "occluded_body_images/002": ["002_01.tif"],
    "occluded_body_images/-1": ["-1_01.tif"],
    "whole_body_images/001": ["001_01.tif", "001_02.tif"],
    "whole_body_images/002": ["002_01.tif", "002_02.tif"],
    "whole_body_images/003": ["003_01.tif"],
    "whole_body_images/000": ["000_01.tif"],
}

# Partial-REID: flat folders; the release's uncropped occluded_body_images is not the query.
PARTIAL_REID_FILES = {
    "partial_body_images": ["001_01.jpg", "001_02.jpg", "002_01.jpg", "-1_01.jpg"],
    "whole_body_images": ["001_01.jpg", "002_01.jpg", "002_02.jpg", "000_01.jpg"],
    "occluded_body_images": ["001_01.jpg"],
}

# P-DukeMTMC-reID: train and test, each with occluded and whole-body person folders; pid 12 is
# only among the occluded training images.
P_DUKEMTMC_FILES = {
    "train/whole_body_images/0005": ["0005_a.jpg", "0005_b.jpg"],
    "train/whole_body_images/0009": ["0009_a.jpg"],
    "train/occluded_body_images/0005": ["0005_c.jpg"],
    "train/occluded_body_images/0012": ["0012_a.jpg"],
    "test/occluded_body_images/0020": ["0020_a.jpg"],
    "test/whole_body_images/0020": ["0020_b.jpg", "0020_c.jpg"],
    "test/whole_body_images/0031": ["0031_a.jpg"],
}

# A DukeMTMC-reID copy and Occluded-DukeMTMC name lists over it: 0005_c5 (gallery) became a
# query and 0008_c7 (gallery) a training image, so both are found in bounding_box_test; the
# names not listed (0001_c2, 0005_c1) are not part of the re-split.
DUKE_FOR_OCCLUDED_FILES = {
    "bounding_box_train": ["0001_c1_f0000001.jpg", "0001_c2_f0000002.jpg", "0003_c3_f0000003.jpg"],
    "query": ["0005_c1_f0000010.jpg", "0007_c2_f0000011.jpg"],
    "bounding_box_test": ["0005_c4_f0000012.jpg", "0005_c5_f0000013.jpg", "0007_c6_f0000014.jpg", "0008_c7_f0000015.jpg"],
}
OCCLUDED_DUKE_LISTS = {
    "train": ["0001_c1_f0000001.jpg", "0008_c7_f0000015.jpg", "0003_c3_f0000003.jpg"],
    "query": ["0007_c2_f0000011.jpg", "0005_c5_f0000013.jpg"],
    "gallery": ["0005_c4_f0000012.jpg", "0007_c6_f0000014.jpg"],
}


def make_occluded_duke_lists(root: Path) -> Path:
    """`root` with the lists above and `root/DukeMTMC-reID` (the extracted DukeMTMC-reID.zip)."""
    make_tree(root / "DukeMTMC-reID", DUKE_FOR_OCCLUDED_FILES)
    for split, names in OCCLUDED_DUKE_LISTS.items():
        (root / f"{split}.list").write_text("".join(f"{name}\n" for name in names))
    return root
