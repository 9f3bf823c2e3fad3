"""extract_features: order, flip averaging, normalisation and the model-hash cache."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dranet_keras.errors import UserError
from dranet_keras.evaluation.features import extract_features, feature_cache_path

SHAPE = (4, 6, 3)


def linear_model(weights):
    """Embedding = flattened image @ weights (no bias): easy to compute by hand."""
    inputs = keras.Input(SHAPE)
    outputs = keras.layers.Dense(weights.shape[1], use_bias=False)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([weights])
    return model


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 255, (7, *SHAPE)).astype("float32")


@pytest.fixture
def weights():
    return np.random.default_rng(1).normal(size=(np.prod(SHAPE), 5)).astype("float32")


def expected_features(images, weights, flip):
    embedding = images.reshape(len(images), -1) @ weights
    if flip:
        embedding = embedding + images[:, :, ::-1, :].reshape(len(images), -1) @ weights
    return embedding / np.linalg.norm(embedding, axis=1, keepdims=True)


@pytest.mark.parametrize("flip", [False, True])
def test_batched_extraction_in_order_with_optional_flip(images, weights, flip):
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(3)  # 3 + 3 + 1
    features = extract_features(linear_model(weights), dataset, flip=flip)
    assert features.shape == (7, 5) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected_features(images, weights, flip), rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)


def test_cache_is_reused_and_keyed_by_the_model_file(tmp_path, images, weights):
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"weights v1")
    cache = feature_cache_path(tmp_path / "cache", model_file, "query", "flip=True")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)
    first = extract_features(linear_model(weights), dataset, cache_path=cache)
    assert cache.is_file()
    # A different model with the same cache path: the cached features come back unchanged.
    again = extract_features(linear_model(-weights), dataset, cache_path=cache)
    np.testing.assert_array_equal(again, first)
    # Another model file, or other extra keys, give another cache file.
    assert feature_cache_path(tmp_path / "cache", model_file, "query", "flip=False") != cache
    model_file.write_bytes(b"weights v2")
    assert feature_cache_path(tmp_path / "cache", model_file, "query", "flip=True") != cache
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [cache.name]  # no temp files left


def test_unreadable_cache_is_replaced(tmp_path, images, weights):
    cache = tmp_path / "features.npy"
    cache.write_bytes(b"not a numpy file")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)
    with pytest.warns(UserWarning, match="unreadable"):
        features = extract_features(linear_model(weights), dataset, flip=False, cache_path=cache)
    np.testing.assert_array_equal(np.load(cache), features)


def test_empty_dataset_is_a_user_error(weights):
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((0, *SHAPE), "float32")).batch(2)
    with pytest.raises(UserError, match="no images"):
        extract_features(linear_model(weights), dataset)

