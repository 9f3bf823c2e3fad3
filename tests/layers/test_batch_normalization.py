"""FusedBatchNormalization against Keras' own BatchNormalization: forward (training and
inference), gradients, moving statistics, in float32 and under mixed_bfloat16; the shared layer
checks; which kernel runs; and a fence that fails once Keras fuses BatchNormalization itself.

Also in PORTABLE_TESTS (tests/test_backend_portability.py): on JAX the layer is Keras' own, so
the comparisons hold exactly there."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dranet_keras.layers import FusedBatchNormalization
from dranet_keras.layers import batch_normalization as fused_module
from tests.layers.layer_test_helper import run_layer_test

SHAPE = (4, 6, 5, 8)  # N, H, W, C: 120 values per channel
# Tolerances, per quantity: float32 is the 1e-5. Under mixed_bfloat16 both layers
# normalise in float32 and round the output to bfloat16 (8 bits of mantissa): one ulp is 2^-8 of
# the value, |y| here is at most ~4, so outputs may differ by 2^-6; the float32 statistics and
# gradients (computed from the same bf16 input) by 1e-4.
TOLERANCE = {"float32": {"outputs": 1e-5, "statistics": 1e-5}, "mixed_bfloat16": {"outputs": 2.0**-6, "statistics": 1e-4}}


def _train_steps(layer, x, upstream, steps=3):
    """`steps` training calls with the gradients of sum(y * upstream); returns the last
    outputs, the gradients (input, gamma, beta), the moving statistics and an inference output."""
    import tensorflow as tf

    x = tf.constant(x)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32") * upstream)
        gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    inference = layer(x, training=False)
    found = {"train_output": y, "inference_output": inference, "moving_mean": layer.moving_mean, "moving_variance": layer.moving_variance}
    found |= {f"d_{name}": g for name, g in zip(["input", *(w.name for w in layer.trainable_weights)], gradients)}
    return {name: np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(v, "float32"))) for name, v in found.items()}


def _pair(dtype, **kwargs):
    """Keras' layer and ours, built alike with the same (non-default) weights."""
    reference = keras.layers.BatchNormalization(momentum=0.9, dtype=dtype, **kwargs)
    fused = FusedBatchNormalization(momentum=0.9, dtype=dtype, **kwargs)
    reference.build(SHAPE)
    fused.build(SHAPE)
    rng = np.random.default_rng(1)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in reference.weights]
    reference.set_weights(weights)
    fused.set_weights(weights)
    return reference, fused


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="GradientTape: the TensorFlow comparison")
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("affine", [{}, {"center": False, "scale": False}])
def test_matches_keras_batch_normalization(dtype, affine):
    reference, fused = _pair(dtype, **affine)
    initial = [keras.ops.convert_to_numpy(w) for w in fused.weights]
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, SHAPE).astype("float32")
    upstream = rng.normal(size=SHAPE).astype("float32")
    expected, actual = _train_steps(reference, x, upstream), _train_steps(fused, x, upstream)
    assert expected.keys() == actual.keys()
    for name in expected:
        kind = "outputs" if name.endswith("output") else "statistics"
        scale = max(1.0, float(np.max(np.abs(expected[name]))))
        np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=TOLERANCE[dtype][kind] * scale, err_msg=name)
    # By hand: three updates towards the batch's mean and *biased* variance (Keras', not the
    # kernel's Bessel-corrected n/(n-1) one, which would be 120/119 larger).
    start = dict(zip((w.name for w in fused.weights), initial))
    for name, batch in (("moving_mean", x.mean(axis=(0, 1, 2))), ("moving_variance", x.var(axis=(0, 1, 2)))):
        by_hand = start[name] * 0.9**3 + batch * (1 - 0.9**3)
        np.testing.assert_allclose(actual[name], by_hand, rtol=TOLERANCE[dtype]["statistics"] * 10, err_msg=name)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's kernels")
def test_the_fused_kernel_runs_where_it_applies_and_keras_path_elsewhere():
    import tensorflow as tf

    def op_types(layer, shape):
        function = tf.function(lambda x: layer(x, training=True))
        graph = function.get_concrete_function(tf.TensorSpec(shape, "float32")).graph
        return {op.type for op in graph.get_operations()}

    assert "FusedBatchNormV3" in op_types(FusedBatchNormalization(), SHAPE)
    assert not any(t.startswith("FusedBatchNorm") for t in op_types(FusedBatchNormalization(), (4, 8)))  # 2-D: Keras' path
    assert not any(t.startswith("FusedBatchNorm") for t in op_types(FusedBatchNormalization(epsilon=1e-6), SHAPE))
    assert not any(t.startswith("FusedBatchNorm") for t in op_types(FusedBatchNormalization(axis=1), SHAPE))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="Keras' TensorFlow backend")
def test_fence_keras_still_runs_batch_normalization_unfused():
    """When this fails, Keras fuses BatchNormalization on TensorFlow itself: delete
    dranet_keras/layers/batch_normalization.py and use keras.layers.BatchNormalization."""
    import tensorflow as tf

    layer = keras.layers.BatchNormalization()
    function = tf.function(lambda x: layer(x, training=True))
    graph = function.get_concrete_function(tf.TensorSpec(SHAPE, "float32")).graph
    assert not any(op.type.startswith("FusedBatchNorm") for op in graph.get_operations())


def test_same_config_and_weights_as_keras():
    ours, theirs = FusedBatchNormalization(momentum=0.9, epsilon=1.001e-5, name="bn"), keras.layers.BatchNormalization(momentum=0.9, epsilon=1.001e-5, name="bn")
    ours.build(SHAPE)
    theirs.build(SHAPE)
    assert ours.get_config() == theirs.get_config()
    assert [(w.path, w.shape, w.dtype) for w in ours.weights] == [(w.path, w.shape, w.dtype) for w in theirs.weights]


def test_on_other_backends_it_is_keras_batch_normalization(monkeypatch):
    """Where the kernel does not apply, call is Keras' own (exactly, not within a tolerance)."""
    monkeypatch.setattr(fused_module.keras.backend, "backend", lambda: "jax")
    reference, fused = _pair("float32")
    x = np.random.default_rng(0).normal(size=SHAPE).astype("float32")
    for training in (True, False):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(fused(x, training=training)), keras.ops.convert_to_numpy(reference(x, training=training)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fused.moving_variance), keras.ops.convert_to_numpy(reference.moving_variance))


def test_layer_checks(tmp_path):
    x = np.random.default_rng(0).normal(size=SHAPE).astype("float32")
    run_layer_test(
        FusedBatchNormalization,
        {"momentum": 0.9, "epsilon": 1.001e-5},
        x,
        [SHAPE],
        tmp_path,
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
    )
