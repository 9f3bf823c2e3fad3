"""The synthetic set: Market-1501 layout the real reader loads, determinism, and identities
that a simple colour descriptor can tell apart across cameras, but not perfectly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from dranet_keras.data import load_dataset
from dranet_keras.data.synthetic import SyntheticSpec, generate

SPEC = {"train_ids": 3, "test_ids": 30, "cameras": 3, "images_per_camera": 2, "distractors": 4, "height": 64, "width": 32}


def test_layout_counts_and_determinism(tmp_path):
    split = load_dataset("synthetic", tmp_path / "a", **SPEC)
    assert (len(split.train), len(split.query), len(split.gallery)) == (18, 90, 94)
    assert split.num_train_ids == 3 and {r.camid for r in split.train} == {0, 1, 2}
    assert sum(r.pid == 0 for r in split.gallery) == 4
    assert json.loads((tmp_path / "a" / "synthetic.json").read_text())["train_ids"] == 3
    with Image.open(split.train[0].path) as image:
        assert image.size == (32, 64)
    generate(tmp_path / "b", SyntheticSpec(**SPEC))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jpg"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.jpg"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    generate(tmp_path / "c", SyntheticSpec(**{**SPEC, "seed": 1}))
    first_train = Path(split.train[0].path).relative_to(tmp_path / "a")
    assert (tmp_path / "a" / first_train).read_bytes() != (tmp_path / "c" / first_train).read_bytes()
    # A second load with the same options reuses the set; other options regenerate it.
    mtime = (tmp_path / "a" / files[0]).stat().st_mtime_ns
    load_dataset("synthetic", tmp_path / "a", **SPEC)
    assert (tmp_path / "a" / files[0]).stat().st_mtime_ns == mtime
    assert len(load_dataset("synthetic", tmp_path / "a", **{**SPEC, "test_ids": 5}).query) == 15


def colour_histogram(path: str) -> np.ndarray:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int64)[8:-4] // 64  # 4 levels per channel
    hist = np.bincount((pixels[..., 0] * 16 + pixels[..., 1] * 4 + pixels[..., 2]).ravel(), minlength=64)
    return np.sqrt(hist / hist.sum())


def test_identities_are_tellable_across_cameras_but_not_trivially(tmp_path):
    split = load_dataset("synthetic", tmp_path / "s", **SPEC)
    gallery = [r for r in split.gallery if r.pid > 0]
    g = np.stack([colour_histogram(r.path) for r in gallery])
    hits = []
    for query in split.query:
        distance = np.linalg.norm(g - colour_histogram(query.path), axis=1)
        valid = [i for i, r in enumerate(gallery) if r.camid != query.camid]  # cross-camera only
        best = valid[int(np.argmin(distance[valid]))]
        hits.append(gallery[best].pid == query.pid)
    rank1 = float(np.mean(hits))
    # Chance is 1/30; a hand-made colour histogram gets far above it, but well below perfect.
    assert 0.2 < rank1 < 0.9, rank1


def test_defaults_match_the_config():
    from dranet_keras.config import Config, DataConfig
    from dranet_keras.stages.prepare import dataset_options

    spec = SyntheticSpec()
    options = dataset_options(DataConfig(), Config().seed)
    assert {key: getattr(spec, key) for key in options} == options


def test_never_replaces_what_it_did_not_create(tmp_path):
    """A user's data set (a Market-style tree, a zip) given as the synthetic root is refused and
    left byte for byte as it was; an earlier synthetic set or an empty folder is replaced."""
    import pytest

    from dranet_keras.errors import UserError

    market = tmp_path / "Market-1501"
    (market / "bounding_box_train").mkdir(parents=True)
    image = market / "bounding_box_train" / "0002_c1s1_000451_03.jpg"
    image.write_bytes(b"user data")
    archive = tmp_path / "Market.zip"
    archive.write_bytes(b"PK\x03\x04 user archive")
    for root in (market, archive):
        with pytest.raises(UserError, match=r"data\.root .* not a synthetic set.*data\.name"):
            load_dataset("synthetic", root, **SPEC)
    assert image.read_bytes() == b"user data" and archive.read_bytes() == b"PK\x03\x04 user archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Market-1501", "Market.zip"]  # no staging left
    (tmp_path / "empty").mkdir()
    assert len(load_dataset("synthetic", tmp_path / "empty", **SPEC).train) == 18
    assert len(load_dataset("synthetic", tmp_path / "empty", **{**SPEC, "train_ids": 2}).train) == 12
