"""`load_dranet`, the one loader: refuses what is not a readable DRANet, naming the file, and
checks what a file asks to build before Keras allocates it."""

import json
import zipfile

import keras
import numpy as np
import pytest

from dranet_keras.choices import MAX_IMAGE_SIDE, MAX_NUM_IDS, MAX_REDUCE_DIM
from dranet_keras.models import build_dranet
from dranet_keras.models.loading import ModelFileError, load_dranet

SHAPE = (32, 16, 3)


def test_rejects_missing_wrong_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="absent.keras does not exist"):
        load_dranet(tmp_path / "absent.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"weights.h5: expected a \.keras file"):
        load_dranet(tmp_path / "weights.h5")
    (tmp_path / "broken.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ModelFileError, match="broken.keras could not be loaded"):
        load_dranet(tmp_path / "broken.keras")
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(ModelFileError, match="other.keras holds a Sequential, expected a DRANet"):
        load_dranet(tmp_path / "other.keras")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny saved DRANet and the embedding it gives for a fixed batch."""
    model = build_dranet(3, "baseline", input_shape=SHAPE, depth=14)  # a ResNet14: the tests are of the loader
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model.save(path)
    images = np.random.default_rng(0).uniform(0, 255, (2, *SHAPE)).astype("float32")
    return path, images, keras.ops.convert_to_numpy(model(images))


def _rewrite(source, target, edit):
    """A copy of the .keras archive `source` with its config.json's `config` passed through `edit`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "config.json":
                saved = json.loads(data)
                edit(saved["config"])
                data = json.dumps(saved).encode()
            new.writestr(item, data)
    return target


def test_a_truncated_file_is_reported_as_truncated(saved, tmp_path):
    data = saved[0].read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"cut.keras could not be loaded: not a complete \.keras archive \(truncated"):
        load_dranet(tmp_path / "cut.keras")


@pytest.mark.parametrize("weights", ["/etc/hostname", "imagenet", "/nonexistent.weights.h5"])
def test_weights_named_in_the_config_are_ignored(saved, tmp_path, weights):
    path, images, expected = saved
    edited = _rewrite(path, tmp_path / "edited.keras", lambda config: config.update(weights=weights))
    reloaded = load_dranet(edited)  # neither reads the file, nor downloads, nor fails
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(images)), expected)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("num_ids", MAX_NUM_IDS + 1, rf"config.num_ids: expected an integer in \[2, {MAX_NUM_IDS}\], got {MAX_NUM_IDS + 1}"),
        ("num_ids", "3", r"config.num_ids: expected an integer in \[2, \d+\], got '3'"),
        ("num_ids", 1, r"config.num_ids: expected an integer in \[2, \d+\], got 1"),
        ("input_shape", [4096, 2048, 3], rf"config.input_shape: expected \[height, width, 3\] with sides in \[1, {MAX_IMAGE_SIDE}\], got \[4096, 2048, 3\]"),
        ("input_shape", [32, 16, 300], r"config.input_shape: expected \[height, width, 3\]"),
        ("input_shape", [32, 16], r"config.input_shape: expected \[height, width, 3\]"),
        ("reduce_dim", MAX_REDUCE_DIM + 1, rf"config.reduce_dim: expected an integer in \[1, {MAX_REDUCE_DIM}\], got {MAX_REDUCE_DIM + 1}"),
    ],
)
def test_sizes_beyond_the_limits_are_refused_naming_the_field(saved, tmp_path, key, value, message):
    edited = _rewrite(saved[0], tmp_path / "big.keras", lambda config: config.update({key: value}))
    with pytest.raises(ModelFileError, match="big.keras: " + message) as error:
        load_dranet(edited)
    assert "\n" not in str(error.value)


def test_a_file_of_the_largest_allowed_sizes_passes_the_check(saved, tmp_path):
    """The limits are inclusive: the check refuses nothing a configuration may train."""
    from dranet_keras.models.loading import saved_config

    largest = {"num_ids": MAX_NUM_IDS, "input_shape": [MAX_IMAGE_SIDE, MAX_IMAGE_SIDE, 3], "reduce_dim": MAX_REDUCE_DIM}
    edited = _rewrite(saved[0], tmp_path / "largest.keras", lambda config: config.update(largest))
    assert {key: saved_config(edited)[key] for key in largest} == largest
