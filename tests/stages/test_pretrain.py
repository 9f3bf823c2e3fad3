"""`dranet pretrain`: the backbone file every variant starts from."""

import json

import numpy as np

from dranet_keras.cli import main
from dranet_keras.config import config_from_dict
from dranet_keras.data.manifest import write_manifest
from dranet_keras.data.records import Record, Split
from dranet_keras.stages.pretrain import pretrain_config
from tests.formats import check as check_format
from tests.report.pipeline_fixtures import person_image


def test_pretrain_section_replaces_only_epochs_and_milestones():
    config = config_from_dict({"train": {"epochs": 4, "lr_milestones": [3], "learning_rate": 0.002}, "pretrain": {"epochs": 12, "lr_milestones": [9]}})
    pre = pretrain_config(config)
    assert (pre.train.epochs, pre.train.lr_milestones, pre.train.learning_rate) == (12, (9,), 0.002)
    assert pre.model == config.model and pre.pretrain == config.pretrain


def test_zero_epochs_saves_the_seeded_initial_backbone(tmp_path, monkeypatch):
    """On a ResNet14 (model.depth): the test is of the stage, not of the backbone."""
    import keras

    from dranet_keras.models import build_dranet
    from dranet_keras.models.resnet import resnet

    monkeypatch.chdir(tmp_path)
    train = []
    for index in range(4):
        path = tmp_path / f"{index}.png"
        person_image(index % 2 + 1, index, size=(32, 64)).save(path)
        train.append(Record(str(path), index % 2 + 1, 1))
    write_manifest(Split(train, [], []), tmp_path / "manifest.csv")
    (tmp_path / "params.yaml").write_text("seed: 0\npretrain: {seed: 3}\nmodel: {height: 64, width: 32, depth: 14}\n")
    assert main(["pretrain", "--manifest", "manifest.csv", "--models-dir", "m"]) == 0
    backbone = tmp_path / "m" / "pretrain" / "backbone.weights.h5"
    meta = json.loads((tmp_path / "m" / "pretrain" / "train_meta.json").read_text())
    assert meta["epochs"] == 0 and meta["config"]["seed"] == 3  # pretrain.seed, not seed
    check_format(tmp_path / "m" / "pretrain" / "train_meta.json", "train_meta.json (pretrain.epochs: 0)")  # docs/formats.md
    assert not list((tmp_path / "m" / "pretrain").glob(".*"))  # no temporary file left
    loaded = resnet((64, 32, 3), depth=14, weights=str(backbone))
    keras.utils.set_random_seed(3)
    expected = build_dranet(2, variant="baseline", input_shape=(64, 32, 3), depth=14).backbone
    for got, want in zip(loaded.weights, expected.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    keras.utils.set_random_seed(4)
    other = build_dranet(2, variant="baseline", input_shape=(64, 32, 3), depth=14).backbone
    assert not np.array_equal(loaded.weights[0].numpy(), other.weights[0].numpy())  # the file is not any init
