import keras
import numpy as np
import pytest

from dranet_keras.layers import SpatialReverseAttention
from tests.layers.layer_test_helper import assert_config_round_trip, assert_survives_save_and_load


def numpy_erased_cells(x, labels, kernel, parts, threshold):
    """Cells whose per-stripe min-max normalised CAM of the true label is >= threshold."""
    cam = np.einsum("bhwc,cb->bhw", x, kernel[:, labels])
    erased = np.zeros(cam.shape, bool)
    for rows in np.array_split(np.arange(x.shape[1]), parts):
        stripe = cam[:, rows]
        low = stripe.min(axis=(1, 2), keepdims=True)
        high = stripe.max(axis=(1, 2), keepdims=True)
        erased[:, rows] = (stripe - low) / (high - low) >= threshold
    return erased


@pytest.mark.parametrize("parts", [1, 3])
def test_erases_exactly_the_high_cam_cells(parts):
    rng = np.random.default_rng(parts)
    x = rng.normal(size=(3, 16, 8, 12)).astype("float32")
    kernel = rng.normal(size=(12, 5)).astype("float32")
    labels = np.array([0, 4, 2])
    layer = SpatialReverseAttention(erase_threshold=0.6, parts=parts)
    out = keras.ops.convert_to_numpy(layer(x, labels=labels, classifier_kernel=kernel, training=True))
    assert out.shape == x.shape

    erased = numpy_erased_cells(x, labels, kernel, parts, 0.6)
    assert 0 < erased.sum() < erased.size
    np.testing.assert_array_equal(out[erased], 0.0)
    np.testing.assert_array_equal(out[~erased], x[~erased])
    # every stripe of every sample loses at least its maximum cell
    for rows in np.array_split(np.arange(16), parts):
        assert erased[:, rows].reshape(3, -1).any(axis=1).all()


def test_uses_the_given_label_not_the_predicted_one():
    x = np.zeros((1, 2, 2, 2), "float32")
    x[0, 0, 0] = [1.0, 0.0]  # class 0 fires here
    x[0, 1, 1] = [0.0, 1.0]  # class 1 fires here
    kernel = np.eye(2, dtype="float32")
    layer = SpatialReverseAttention(erase_threshold=0.6, parts=1)
    for label, cell in ((0, (0, 0)), (1, (1, 1))):
        mask = keras.ops.convert_to_numpy(layer.erase_mask(x, np.array([label]), kernel))
        expected = np.zeros((1, 2, 2))
        expected[(0, *cell)] = 1.0
        np.testing.assert_array_equal(mask, expected)


def test_constant_stripe_is_left_intact():
    x = np.ones((1, 4, 2, 3), "float32")
    kernel = np.ones((3, 2), "float32")
    out = SpatialReverseAttention(parts=2)(x, labels=np.array([1]), classifier_kernel=kernel, training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), x)


def test_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(2, 6, 3, 4)).astype("float32")
    out = SpatialReverseAttention(parts=3)(x, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), x)


def test_training_without_labels_is_a_clear_error():
    with pytest.raises(ValueError, match="needs `labels` and `classifier_kernel`"):
        SpatialReverseAttention()(np.zeros((1, 6, 2, 4), "float32"), training=True)


def test_gradient_flows_through_kept_cells_only():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(2, 6, 4, 5)).astype("float32"))
    kernel = tf.constant(rng.normal(size=(5, 3)).astype("float32"))
    labels = np.array([2, 0])
    layer = SpatialReverseAttention(erase_threshold=0.5, parts=3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, labels=labels, classifier_kernel=kernel, training=True))
    gradient = tape.gradient(loss, x).numpy()
    kept = ~numpy_erased_cells(x.numpy(), labels, kernel.numpy(), 3, 0.5)
    np.testing.assert_array_equal(gradient, np.broadcast_to(kept[..., None], gradient.shape).astype("float32"))


def test_config_round_trip_and_validation():
    assert_config_round_trip(SpatialReverseAttention(erase_threshold=0.45, parts=2, name="sic"))
    with pytest.raises(ValueError, match="erase_threshold"):
        SpatialReverseAttention(erase_threshold=0.0)


def test_works_inside_saved_and_reloaded_model(tmp_path):
    inputs = keras.Input((9, 3, 8))
    features = SpatialReverseAttention(parts=3)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).normal(size=(2, 9, 3, 8)).astype("float32")
    assert_survives_save_and_load(model, x, tmp_path)
