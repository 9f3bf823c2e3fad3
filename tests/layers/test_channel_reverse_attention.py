"""ChannelReverseAttention: B = A * m and C = A * (1 - m) per stripe against numpy; the
gradient of C to the masks is cut by `reverse_gradient="stop"` and not by `"through"`."""

import keras
import numpy as np
import pytest

from dranet_keras.layers import ChannelReverseAttention
from tests.gradients import value_and_gradients
from tests.layers.layer_test_helper import run_layer_test


def numpy_masks(layer, x):
    """Per-stripe squeeze-excitation masks computed independently in numpy."""
    sizes = [len(chunk) for chunk in np.array_split(np.arange(x.shape[1]), layer.parts)]
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
def test_b_and_c_match_numpy(parts):
    x = np.random.default_rng(0).normal(size=(2, 16, 4, 32)).astype("float32")
    layer = ChannelReverseAttention(reduction=4, parts=parts)
    b, c = (keras.ops.convert_to_numpy(t) for t in layer(x))
    sizes, masks = numpy_masks(layer, x)
    chunks = np.split(x, np.cumsum(sizes)[:-1], axis=1)
    expected_b = np.concatenate([chunk * m[:, None, None, :] for chunk, m in zip(chunks, masks)], axis=1)
    expected_c = np.concatenate([chunk * (1.0 - m)[:, None, None, :] for chunk, m in zip(chunks, masks)], axis=1)
    np.testing.assert_allclose(b, expected_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, expected_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b + c, x, rtol=1e-5, atol=1e-5)  # the two halves of A
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.masks(x)), np.stack(masks, axis=1), rtol=1e-5, atol=1e-6)
    # training changes nothing in the forward pass (the masks are the same in both modes)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=True)[0]), b)


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
    b, _ = layer(x)
    b = keras.ops.convert_to_numpy(b)
    for rows, level in (((0, 6), 1.0), ((6, 11), 2.0), ((11, 16), 3.0)):
        np.testing.assert_allclose(b[:, rows[0] : rows[1]], level / (1.0 + np.exp(-level)), rtol=1e-6)


def _gradients_of(layer, x, output_index):
    """Gradients of sum(output ** 2) w.r.t. every trainable weight (stateless, any backend)."""
    weights = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]

    def loss(*trainable):
        outputs, _ = layer.stateless_call(list(trainable), [], x)
        return keras.ops.sum(keras.ops.square(outputs[output_index]))

    return value_and_gradients(loss, *weights)[1]


def test_reverse_gradient_stop_cuts_c_from_the_masks_and_through_does_not():
    x = np.random.default_rng(2).normal(1.0, 1.0, size=(4, 9, 3, 16)).astype("float32")
    gradients = {}
    for mode in ("stop", "through"):
        keras.utils.set_random_seed(0)  # same weights; 16 hidden units, positive inputs: no dead ReLU
        layer = ChannelReverseAttention(reduction=1, parts=3, reverse_gradient=mode)
        layer.build(x.shape)
        assert len(layer.trainable_weights) == 3 * 4
        gradients[mode] = (_gradients_of(layer, x, 0), _gradients_of(layer, x, 1))
    b_stop, c_stop = gradients["stop"]
    b_through, c_through = gradients["through"]
    assert all(np.all(g == 0.0) for g in c_stop)  # exactly zero: C sees m as a constant
    assert all(np.abs(g).max() > 0 for g in c_through)
    assert all(np.abs(g).max() > 0 for g in b_stop)  # m learns through B
    for stop, through in zip(b_stop, b_through):
        np.testing.assert_array_equal(stop, through)


def test_rejects_bad_arguments_and_short_maps():
    with pytest.raises(ValueError, match="reverse_gradient"):
        ChannelReverseAttention(reverse_gradient="both")
    with pytest.raises(ValueError, match="reduction"):
        ChannelReverseAttention(reduction=0)
    with pytest.raises(ValueError, match="height 2 cannot be cut into 3 parts"):
        ChannelReverseAttention(parts=3)(np.zeros((1, 2, 2, 8), "float32"))


@pytest.mark.parametrize("reverse_gradient", ["stop", "through"])
def test_layer_contract(reverse_gradient, tmp_path):
    x = np.random.default_rng(1).normal(size=(2, 12, 4, 16)).astype("float32")
    run_layer_test(
        ChannelReverseAttention,
        {"reduction": 4, "parts": 3, "reverse_gradient": reverse_gradient},
        x,
        [(2, 12, 4, 16), (2, 12, 4, 16)],
        tmp_path,
        expected_num_trainable_weights=3 * 4,
        expected_num_non_trainable_weights=0,
    )
