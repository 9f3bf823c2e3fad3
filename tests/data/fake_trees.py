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
