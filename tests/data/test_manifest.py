"""manifest.csv round trip, its errors, and the statistics."""

from __future__ import annotations

import json

import pytest

from dranet_keras.data.errors import DatasetError
from dranet_keras.data.manifest import PreparedSet, prepared_set, read_manifest, split_stats, write_manifest
from dranet_keras.data.records import Record, Split

SPLIT = Split(
    train=[Record("a,1.jpg", 0, 0), Record("b.jpg", 0, 1), Record("c.jpg", 1, 1)],
    query=[Record("q.jpg", 7, 0)],
    gallery=[Record("g1.jpg", 7, 1), Record("g2.jpg", 0, 2), Record("g3.jpg", 7, 2)],
)


def test_round_trip_and_columns(tmp_path):
    path = tmp_path / "prepared" / "manifest.csv"
    write_manifest(SPLIT, path)
    assert path.read_text().splitlines()[:2] == ["split,path,pid,camid", 'train,"a,1.jpg",0,0']
    assert read_manifest(path) == SPLIT
    assert [p.name for p in path.parent.iterdir()] == ["manifest.csv"]  # no temp file left


@pytest.mark.parametrize(
    "text, message",
    [
        ("split,path,pid\ntrain,a.jpg,0\n", "columns"),
        ("split,path,pid,camid\ntest,a.jpg,0,0\n", "unknown split values \\['test'\\]"),
        ("split,path,pid,camid\ntrain,a.jpg,x,0\n", "must be integers"),
    ],
)
def test_bad_manifests(tmp_path, text, message):
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_manifest(path)
    with pytest.raises(DatasetError, match="run `dranet prepare` first"):
        read_manifest(tmp_path / "missing.csv")


def test_stats():
    stats = split_stats(SPLIT)
    assert stats["train"] == {"images": 3, "ids": 2, "images_per_id": {"min": 1, "mean": 1.5, "max": 2}, "per_camera": {"0": 1, "1": 2}}
    assert stats["gallery"]["ids"] == 1 and stats["gallery"]["distractors"] == 1
    assert stats["gallery"]["per_camera"] == {"1": 1, "2": 2}
    assert stats["num_train_ids"] == 2 and stats["num_cameras"] == 3


def test_the_prepared_set_is_the_one_stats_json_names_else_the_configurations(tmp_path):
    manifest = tmp_path / "prepared" / "manifest.csv"
    write_manifest(SPLIT, manifest)
    stats_path = manifest.parent / "stats.json"
    assert prepared_set(manifest, "synthetic", "data/raw/synthetic") == PreparedSet("synthetic", "data/raw/synthetic", None, stats_path)
    stats = {"dataset": "market1501", "root": "/data/Market-1501", "occluded_split": None}
    stats_path.write_text(json.dumps(stats))
    prepared = prepared_set(manifest, "synthetic", "data/raw/synthetic")
    assert prepared == PreparedSet("market1501", "/data/Market-1501", stats, stats_path) and not prepared.synthetic


@pytest.mark.parametrize("text", ["{", "[]", '{"dataset": "market1501"}', '{"dataset": 1, "root": "x"}'])
def test_a_malformed_stats_json_is_a_dataset_error_naming_it(tmp_path, text):
    (tmp_path / "stats.json").write_text(text)
    with pytest.raises(DatasetError, match="stats.json: .*prepare the set again"):
        prepared_set(tmp_path / "manifest.csv", "synthetic", "data/raw/synthetic")
