"""RandomErasing: exact transform, identity cases, the sampling distribution, config, tf.data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from dranet_keras.layers import RandomErasing

from .layer_test_helper import assert_config_round_trip, run_layer_test


def test_transform_fills_exactly_the_rectangle():
    layer = RandomErasing(fill_value=(1.0, 2.0, 3.0))
    images = np.zeros((2, 6, 5, 3), dtype="float32")
    transformation = {
        "apply": np.array([True, False]),
        "top": np.array([1, 0]), "left": np.array([2, 0]),
        "height": np.array([3, 6]), "width": np.array([2, 5]),
    }
    out = keras.ops.convert_to_numpy(layer.transform_images(images, transformation))
    expected = np.zeros_like(images)
    expected[0, 1:4, 2:4] = (1.0, 2.0, 3.0)  # rows 1..3, columns 2..3
    np.testing.assert_array_equal(out, expected)


def test_identity_when_not_training_or_probability_zero():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 8, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(RandomErasing(1.0)(images, training=False)), images)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(RandomErasing(0.0)(images, training=True)), images)


def test_sampling_distribution_matches_the_definition():
    height, width, n = 64, 32, 4000
    layer = RandomErasing(probability=0.5, seed=3)
    t = {k: keras.ops.convert_to_numpy(v) for k, v in layer.get_random_transformation(np.zeros((n, height, width, 3))).items()}
    applied = t["apply"]
    assert abs(applied.mean() - 0.5) < 0.03  # binomial sd ~0.008
    h, w, top, left = (t[k][applied] for k in ("height", "width", "top", "left"))
    area = h * w / (height * width)
    # Rounding to whole pixels moves the area a little outside [0.02, 0.4].
    assert area.min() > 0.01 and area.max() < 0.45 and 0.15 < area.mean() < 0.25
    assert (h >= 1).all() and (w >= 1).all() and (h < height).all() and (w < width).all()
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= height).all() and (left + w <= width).all()
    # Corners cover the whole admissible range.
    assert (top == 0).any() and (top + h == height).any()


def test_erases_mean_filled_rectangles_on_unbatched_input():
    out = keras.ops.convert_to_numpy(RandomErasing(1.0, seed=1)(np.zeros((40, 20, 3), "float32")))
    erased = (out != 0).all(axis=-1)
    rows, cols = np.nonzero(erased)
    assert erased.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one rectangle
    np.testing.assert_allclose(out[rows[0], cols[0]], (123.675, 116.28, 103.53), rtol=1e-6)


def test_seeded_layers_agree_and_config_round_trips():
    images = np.zeros((8, 32, 16, 3), "float32")
    first, second = RandomErasing(0.5, seed=7), RandomErasing(0.5, seed=7)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first(images)), keras.ops.convert_to_numpy(second(images)))
    config = RandomErasing(0.3, area_range=(0.1, 0.2), aspect_range=(0.5, 2.0), fill_value=(0, 0, 0), attempts=5, seed=2).get_config()
    assert_config_round_trip(RandomErasing.from_config(config))
    with pytest.raises(ValueError, match="probability"):
        RandomErasing(1.5)


def test_runs_inside_tf_data():
    layer = RandomErasing(1.0, seed=0)
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((4, 16, 8, 3), "float32")).batch(2).map(layer)
    batches = [b.numpy() for b in dataset]
    assert all((b != 0).any(axis=(1, 2, 3)).all() for b in batches)


def test_layer_contract(tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 8, 3)).astype("float32")
    run_layer_test(
        RandomErasing,
        {"probability": 0.5, "attempts": 5, "seed": 1},
        images,
        [(2, 16, 8, 3)],
        tmp_path,
        expected_num_trainable_weights=0,
        trains_weights=False,
    )
