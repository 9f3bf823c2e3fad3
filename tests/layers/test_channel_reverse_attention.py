import keras
import numpy as np
import pytest

from dranet_keras.layers import ChannelReverseAttention
from tests.layers.layer_test_helper import assert_config_round_trip, assert_survives_save_and_load


def numpy_masks(layer, x):
    """Per-stripe squeeze-excitation masks computed independently in numpy."""
    height = x.shape[1]
    sizes = [len(chunk) for chunk in np.array_split(np.arange(height), layer.parts)]
    starts = np.cumsum([0, *sizes[:-1]])
    masks = []
    for part, (start, size) in enumerate(zip(starts, sizes)):
        pooled = x[:, start : start + size].mean(axis=(1, 2))
        w1, b1 = (keras.ops.convert_to_numpy(v) for v in layer.squeeze[part].weights)
        w2, b2 = (keras.ops.convert_to_numpy(v) for v in layer.excite[part].weights)
        hidden = np.maximum(pooled @ w1 + b1, 0.0)
        masks.append(1.0 / (1.0 + np.exp(-(hidden @ w2 + b2))))
    return sizes, masks


@pytest.mark.parametrize("parts", [1, 3])
def test_output_shape_and_reverse_property(parts):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 16, 4, 32)).astype("float32")
    layer = ChannelReverseAttention(reduction=4, parts=parts)
    train_out = keras.ops.convert_to_numpy(layer(x, training=True))
    infer_out = keras.ops.convert_to_numpy(layer(x, training=False))
    assert train_out.shape == infer_out.shape == x.shape

    sizes, masks = numpy_masks(layer, x)
    expected_train = np.concatenate(
        [chunk * (1.0 - m)[:, None, None, :] for chunk, m in zip(np.split(x, np.cumsum(sizes)[:-1], axis=1), masks)],
        axis=1,
    )
    expected_infer = np.concatenate(
        [chunk * m[:, None, None, :] for chunk, m in zip(np.split(x, np.cumsum(sizes)[:-1], axis=1), masks)],
        axis=1,
    )
    np.testing.assert_allclose(train_out, expected_train, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(infer_out, expected_infer, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.masks(x)), np.stack(masks, axis=1), rtol=1e-5, atol=1e-6)


def test_stripes_follow_numpy_array_split():
    # 16 rows in 3 parts -> 6/5/5: a mask constant within each stripe shows where stripes end.
    layer = ChannelReverseAttention(reduction=1, parts=3)
    x = np.ones((1, 16, 2, 4), "float32")
    x[:, 6:11] *= 2.0
    x[:, 11:] *= 3.0
    layer.build(x.shape)
    for part in range(3):  # make every part's mask depend only on its own stripe level
        layer.squeeze[part].set_weights([np.eye(4, dtype="float32"), np.zeros(4, "float32")])
        layer.excite[part].set_weights([np.eye(4, dtype="float32"), np.zeros(4, "float32")])
    out = keras.ops.convert_to_numpy(layer(x, training=False))
    for rows, level in (((0, 6), 1.0), ((6, 11), 2.0), ((11, 16), 3.0)):
        expected = level / (1.0 + np.exp(-level))
        np.testing.assert_allclose(out[:, rows[0] : rows[1]], expected, rtol=1e-6)


def test_config_round_trip():
    assert_config_round_trip(ChannelReverseAttention(reduction=8, parts=2, name="cic"))


def test_gradients_reach_every_weight():
    import tensorflow as tf

    keras.utils.set_random_seed(0)  # 16 hidden units, positive inputs: no dead ReLU block
    layer = ChannelReverseAttention(reduction=1, parts=3)
    x = tf.random.stateless_normal((4, 9, 3, 16), seed=(1, 2), mean=1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, training=True)))
    gradients = tape.gradient(loss, layer.trainable_weights)
    assert len(layer.trainable_weights) == 3 * 4
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_rejects_map_shorter_than_parts():
    with pytest.raises(ValueError, match="height 2 cannot be cut into 3 parts"):
        ChannelReverseAttention(parts=3)(np.zeros((1, 2, 2, 8), "float32"))


def test_works_inside_saved_and_reloaded_model(tmp_path):
    inputs = keras.Input((12, 4, 16))
    features = ChannelReverseAttention(reduction=4, parts=3)(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(2, 12, 4, 16)).astype("float32")
    assert_survives_save_and_load(model, x, tmp_path)
