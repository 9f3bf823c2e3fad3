"""SpatialReverseAttention: F and H from its own convolutions, h recomputed in numpy per stripe,
D = B * (1 - h) (soft) / B * [h < t] (hard), no gradient through h, label-free inference."""

import keras
import numpy as np
import pytest

from dranet_keras.layers import SpatialReverseAttention
from tests.gradients import value_and_gradients
from tests.layers.layer_test_helper import run_layer_test


def numpy_h(class_maps, labels, parts):
    """The true identity's class map, min-max normalised within each stripe (numpy)."""
    chosen = class_maps[np.arange(len(labels)), :, :, labels]  # (batch, height, width)
    h = np.zeros_like(chosen)
    for rows in np.array_split(np.arange(chosen.shape[1]), parts):
        stripe = chosen[:, rows]
        low = stripe.min(axis=(1, 2), keepdims=True)
        high = stripe.max(axis=(1, 2), keepdims=True)
        h[:, rows] = (stripe - low) / np.maximum(high - low, 1e-6)
    return h


def numpy_f_and_h(layer, b):
    """F = ReLU(BN(conv3x3(B))) and H = conv1x1(F) with the layer's weights, inference BN."""
    kernel3 = keras.ops.convert_to_numpy(layer.conv3x3.kernel)
    padded = np.pad(b, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros(b.shape[:3] + (kernel3.shape[-1],), "float64")
    for dy in range(3):
        for dx in range(3):
            conv += padded[:, dy : dy + b.shape[1], dx : dx + b.shape[2]] @ kernel3[dy, dx]
    gamma, beta, mean, var = (keras.ops.convert_to_numpy(w) for w in layer.bn.weights)
    f = np.maximum(gamma * (conv - mean) / np.sqrt(var + layer.bn.epsilon) + beta, 0.0)
    kernel1, bias1 = (keras.ops.convert_to_numpy(w) for w in layer.conv1x1.weights)
    return f, f @ kernel1[0, 0] + bias1


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("erase", ["soft", "hard"])
def test_d_is_b_erased_by_the_true_identity_map(parts, erase):
    rng = np.random.default_rng(parts)
    b = rng.uniform(0, 2, size=(3, 16, 8, 12)).astype("float32")
    labels = np.array([0, 4, 2])
    layer = SpatialReverseAttention(num_ids=5, parts=parts, erase=erase, erase_threshold=0.6)
    layer.build(b.shape)
    f, class_maps = (keras.ops.convert_to_numpy(t) for t in layer(b, training=False))
    expected_f, expected_class_maps = numpy_f_and_h(layer, b)
    np.testing.assert_allclose(f, expected_f, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(class_maps, expected_class_maps, rtol=1e-4, atol=1e-4)

    h = numpy_h(class_maps, labels, parts)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.class_map(class_maps, labels)), h, atol=1e-6)
    # In training BN uses the batch statistics: H differs from inference, so h is taken from
    # the training call's own H.
    _, train_maps, d = (keras.ops.convert_to_numpy(t) for t in layer(b, labels=labels, training=True))
    h_train = numpy_h(train_maps, labels, parts)
    keep = 1.0 - h_train if erase == "soft" else (h_train < 0.6).astype("float32")
    np.testing.assert_allclose(d, b * keep[..., None], rtol=1e-5, atol=1e-5)
    for rows in np.array_split(np.arange(16), parts):  # every stripe reaches 0 and 1
        assert np.allclose(h_train[:, rows].min(axis=(1, 2)), 0) and np.allclose(h_train[:, rows].max(axis=(1, 2)), 1)
    if erase == "hard":
        assert 0 < (keep == 0).sum() < keep.size


def test_uses_the_given_label_not_the_predicted_one():
    class_maps = np.zeros((1, 2, 2, 2), "float32")
    class_maps[0, 0, 0, 0] = 1.0  # identity 0 fires here
    class_maps[0, 1, 1, 1] = 1.0  # identity 1 fires here
    layer = SpatialReverseAttention(num_ids=2, parts=1)
    for label, cell in ((0, (0, 0)), (1, (1, 1))):
        expected = np.zeros((1, 2, 2))
        expected[(0, *cell)] = 1.0
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.class_map(class_maps, np.array([label]))), expected)


def test_constant_stripe_is_kept_whole():
    layer = SpatialReverseAttention(num_ids=3, parts=2)
    h = keras.ops.convert_to_numpy(layer.class_map(np.ones((1, 4, 2, 3), "float32"), np.array([1])))
    np.testing.assert_array_equal(h, 0.0)  # soft: B * 1; hard: 0 < t keeps every cell


def test_inference_needs_no_labels_and_is_deterministic():
    b = np.random.default_rng(0).uniform(size=(2, 6, 3, 4)).astype("float32")
    layer = SpatialReverseAttention(num_ids=3, parts=3)
    first, second = layer(b, training=False), layer(b, training=False)
    assert len(first) == 2  # F, H; no D without training
    for x, y in zip(first, second):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y))


def test_training_without_labels_is_a_clear_error():
    with pytest.raises(ValueError, match="needs `labels`"):
        SpatialReverseAttention(num_ids=3)(np.zeros((1, 6, 2, 4), "float32"), training=True)


def test_h_passes_no_gradient():
    """D's loss reaches B (through the kept part) but not f_3x3 / f_1x1 (h is a constant)."""
    rng = np.random.default_rng(3)
    b = rng.uniform(0, 2, size=(2, 6, 4, 5)).astype("float32")
    labels = np.array([2, 0])
    for erase in ("soft", "hard"):
        layer = SpatialReverseAttention(num_ids=3, parts=3, erase=erase)
        layer.build(b.shape)
        weights = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]

        def d_loss(x, *trainable):
            (_, _, d), _ = layer.stateless_call(list(trainable), [keras.ops.convert_to_numpy(w) for w in layer.non_trainable_weights], x, labels=labels, training=True)
            return keras.ops.sum(d)

        _, (to_b, *to_weights) = value_and_gradients(d_loss, b, *weights)
        assert len(to_weights) == 5  # conv3x3, bn gamma/beta, conv1x1 kernel/bias
        assert all(np.all(g == 0.0) for g in to_weights)
        # d sum(B * keep) / dB = keep: recomputed from H of the same call
        (_, class_maps, _), _ = layer.stateless_call(weights, [keras.ops.convert_to_numpy(w) for w in layer.non_trainable_weights], b, labels=labels, training=True)
        h = numpy_h(keras.ops.convert_to_numpy(class_maps), labels, 3)
        keep = 1.0 - h if erase == "soft" else (h < 0.6).astype("float32")
        np.testing.assert_allclose(to_b, np.broadcast_to(keep[..., None], b.shape), atol=1e-5)


def test_rejects_bad_arguments():
    for kwargs, match in (
        ({"erase": "blur"}, "erase must be"),
        ({"erase_threshold": 0.0}, "erase_threshold"),
        ({"parts": 0}, "parts"),
        ({"num_ids": 1}, "num_ids"),
    ):
        with pytest.raises(ValueError, match=match):
            SpatialReverseAttention(**{"num_ids": 3, **kwargs})


@pytest.mark.parametrize("erase", ["soft", "hard"])
def test_layer_contract(erase, tmp_path):
    x = np.random.default_rng(2).uniform(size=(2, 9, 3, 8)).astype("float32")
    run_layer_test(
        SpatialReverseAttention,
        {"num_ids": 4, "parts": 3, "erase": erase, "erase_threshold": 0.5},
        x,
        [(2, 9, 3, 8), (2, 9, 3, 4)],
        tmp_path,
        training_inputs={"labels": np.array([1, 3], "int32")},
        expected_training_shapes=[(2, 9, 3, 8), (2, 9, 3, 4), (2, 9, 3, 8)],
        expected_num_trainable_weights=5,
        expected_num_non_trainable_weights=2,
        float32_outputs=(1,),  # H: f_1x1 is a float32 classifier (see the precision test)
    )


def test_class_maps_and_sic_logits_are_float32_under_mixed_precision():
    """f_1x1 computes in float32 (as the heads' classifiers do): H, its GAP (SIC's logits) and h
    are float32 under mixed_bfloat16, D (which goes on into the network) stays bf16. Against a
    float32 twin with the same weights, the logits' error is then only that of the bf16 F under
    them; f_1x1 in bf16 (the layer before: H and its GAP rounded to bf16) adds 2-3x that.
    Measured on TensorFlow/CPU (64 channels, 751 ids, 16x8): max |logit error| 5.1e-4 with f_1x1
    in float32, 1.5e-3 with it in bf16 (logits up to about 0.5); given the same F, float32 f_1x1
    adds nothing (0.0) and bf16 adds 1.4e-3; h's max error 3.5e-3 against 9.2e-3."""
    rng = np.random.default_rng(2)
    b = np.maximum(rng.normal(size=(4, 16, 8, 64)), 0).astype("float32")  # B: post-ReLU, 16x8 as at 256x128
    labels = np.array([1, 5, 700, 3])
    keras.utils.set_random_seed(2)
    twin = SpatialReverseAttention(num_ids=751, parts=3)  # float32 throughout
    twin.build(b.shape)
    mixed = SpatialReverseAttention(num_ids=751, parts=3, dtype="mixed_bfloat16")
    mixed.build(b.shape)
    mixed.set_weights(twin.get_weights())

    def logits(maps):
        return keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.mean(maps, axis=(1, 2)), "float32"))

    f, class_maps = mixed(b, training=False)
    _, twin_maps = twin(b, training=False)
    expected = logits(twin_maps)
    # f_1x1 in bf16, by hand: the same weights in a mixed_bfloat16 Conv2D on the same bf16 F.
    bf16_f_1x1 = keras.layers.Conv2D(751, 1, dtype="mixed_bfloat16")
    bf16_f_1x1.build(f.shape)
    bf16_f_1x1.set_weights(mixed.conv1x1.get_weights())
    bf16_maps = bf16_f_1x1(f)
    assert keras.backend.standardize_dtype(bf16_maps.dtype) == "bfloat16"
    fp32_error = np.abs(logits(class_maps) - expected).max()
    bf16_error = np.abs(logits(bf16_maps) - expected).max()
    assert bf16_error > 2 * fp32_error, (fp32_error, bf16_error)
    # What f_1x1 itself adds, given the same F: float32 round-off against bf16 rounding.
    same_f = logits(twin.conv1x1(keras.ops.cast(f, "float32")))
    assert np.abs(logits(class_maps) - same_f).max() < 1e-5 < 1e-4 < np.abs(logits(bf16_maps) - same_f).max()
    # The erasing mask h follows: closer to the twin's with f_1x1 in float32.
    twin_h = keras.ops.convert_to_numpy(twin.class_map(twin_maps, labels))
    h_error = np.abs(keras.ops.convert_to_numpy(mixed.class_map(class_maps, labels)) - twin_h).max()
    bf16_h_error = np.abs(keras.ops.convert_to_numpy(keras.ops.cast(mixed.class_map(bf16_maps, labels), "float32")) - twin_h).max()
    assert h_error < bf16_h_error, (h_error, bf16_h_error)
    # Dtypes in training (last: it moves the BN statistics of the mixed layer only).
    f, class_maps, d = mixed(b, labels=labels, training=True)
    h = mixed.class_map(class_maps, labels)
    assert [keras.backend.standardize_dtype(t.dtype) for t in (f, class_maps, h, d)] == ["bfloat16", "float32", "float32", "bfloat16"]
    assert keras.backend.standardize_dtype(mixed.conv1x1.kernel.dtype) == "float32"  # the weights: float32 as before
