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


def test_attributes_record_what_made_each_image_hard(tmp_path):
    from dranet_keras.data.synthetic import ATTRIBUTES, read_attributes

    spec = SyntheticSpec(train_ids=3, test_ids=4, cameras=3, images_per_camera=2, distractors=2, height=64, width=32, seed=5)
    root = generate(tmp_path / "s", spec)
    table = read_attributes(root / "attributes.csv")
    images = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))
    assert sorted(table) == images  # one row per image, keyed by its path in the set
    assert (root / "attributes.csv").read_text().splitlines()[0] == ",".join(ATTRIBUTES)
    for row in table.values():
        assert row["occluded"] in (0, 1) and row["back_view"] in (0, 1)
        assert row["occluded"] == 1 or row["occluded_share"] == 0  # (an occluder beside the person hides none of it)
        assert 0 <= row["occluded_share"] <= 1 and row["blur"] >= 0 and 0.5 < row["scale"] < 1.1
        assert row["backpack_hides_shirt"] <= row["back_view"]
        assert 0.6 < row["brightness"] < 1.4 and 0 <= row["colour_cast"] <= 0.2


def test_an_occluder_darkens_what_it_hides_in_the_picture(tmp_path):
    """The recorded occluder is the one drawn: forcing it on changes the image where it
    says, and only with occlude=None does the camera's rate decide."""
    from dranet_keras.data import synthetic

    identity = synthetic._identity(123, synthetic._rng(0, 1, 0))
    camera = synthetic._camera(synthetic._rng(0, 2, 0))
    whole, whole_attributes = synthetic._render(identity, camera, synthetic._rng(0, 4, 0, 0, 0), 64, 32, occlude=False)
    hidden, hidden_attributes = synthetic._render(identity, camera, synthetic._rng(0, 4, 0, 0, 0), 64, 32, occlude=True)
    assert whole_attributes["occluded"] == 0 and whole_attributes["occluded_share"] == 0
    assert hidden_attributes["occluded"] == 1 and hidden_attributes["occluded_share"] > 0.05
    assert np.mean(np.abs(hidden.astype(int) - whole)) > 5


def test_occluded_split_has_its_own_identities_occluded_queries_and_a_whole_gallery(tmp_path):
    from dranet_keras.data.synthetic import identity_codes, occluded_gallery, read_attributes, read_occluded_images

    spec = SyntheticSpec(train_ids=3, test_ids=4, cameras=3, images_per_camera=2, distractors=1, occluded_ids=3, height=64, width=32, seed=5)
    root = generate(tmp_path / "s", spec)
    main = load_dataset("synthetic", root, **{k: v for k, v in json.loads((root / "synthetic.json").read_text()).items() if k != "version"})
    occluded = read_occluded_images(root)
    table = read_attributes(root / "attributes.csv")
    assert occluded.train == [] and len(occluded.query) == 3 * 3
    own = occluded.gallery
    searched = occluded_gallery(occluded, main)
    assert len(own) == 3 * 3 and searched[: len(own)] == own and searched[len(own):] == main.gallery  # with the standard gallery
    assert {r.pid for r in occluded.query} == {8, 9, 10}  # after the main set's 1..7
    assert not {r.pid for r in occluded.query} & {r.pid for r in main.query + main.gallery}
    relative = lambda r: str(Path(r.path).relative_to(root))  # noqa: E731
    assert all(table[relative(r)]["occluded"] == 1 for r in occluded.query)
    assert all(table[relative(r)]["occluded"] == 0 for r in own)
    # its identities are not the main set's, and adding them left the main set as it was
    assert len(identity_codes(spec)) == 3 + 4 + 1 + 3
    plain = generate(tmp_path / "plain", SyntheticSpec(**{**spec.__dict__, "occluded_ids": 0}))
    for record in main.query[:3]:
        assert (plain / relative(record)).read_bytes() == Path(record.path).read_bytes()
