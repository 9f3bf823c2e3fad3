"""PointwiseConv2D against keras.layers.Conv2D: the output and the gradients for the input, the
kernel and the bias, under mixed_bfloat16 (where it is a matrix product) with strides and odd
sizes, and in float32 (where it is Keras' own convolution, exactly); which op runs; the same
config and weights; the shared layer checks.

Also in PORTABLE_TESTS (tests/test_backend_portability.py): on JAX the layer is Keras' Conv2D."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dranet_keras.layers import PointwiseConv2D
from dranet_keras.layers import pointwise_convolution as pointwise_module
from tests.layers.layer_test_helper import run_layer_test

SHAPE = (3, 7, 5, 16)  # N, H, W, C_in: odd sizes, so a stride-2 output keeps the last row/column
# Under mixed_bfloat16 both layers read the same bf16 input and kernel and accumulate in float32;
# the outputs and the input gradient are rounded to bfloat16 (8 bits of mantissa, 2^-8 relative).
# The kernel and bias gradients sum over the N*H*W pixels, in another order in each layer.
BF16_RTOL = 2.0**-7


def _pair(dtype, **kwargs):
    """Keras' Conv2D and ours, 16 -> 8 channels, with the same weights."""
    reference = keras.layers.Conv2D(8, 1, dtype=dtype, **kwargs)
    ours = PointwiseConv2D(8, 1, dtype=dtype, **kwargs)
    reference.build(SHAPE)
    ours.build(SHAPE)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.weights]
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


def _outputs_and_gradients(layer, x, upstream):
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, "float32") * upstream)
    gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    found = {"output": y, "d_input": gradients[0]} | {f"d_{w.name}": g for w, g in zip(layer.trainable_weights, gradients[1:])}
    return {name: np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(v, "float32"))) for name, v in found.items()}


def _output_shape(strides):
    return (SHAPE[0], -(-SHAPE[1] // strides), -(-SHAPE[2] // strides), 8)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="GradientTape: the TensorFlow comparison")
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("options", [{}, {"strides": 2}, {"strides": 2, "padding": "same"}, {"use_bias": False}])
def test_matches_keras_conv2d(dtype, options):
    reference, ours = _pair(dtype, **options)
    rng = np.random.default_rng(0)
    # bf16-representable inputs, so that both layers multiply exactly the same numbers
    x = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(rng.normal(size=SHAPE), "bfloat16"), "float32"))
    upstream = rng.normal(size=_output_shape(options.get("strides", 1))).astype("float32")
    expected, actual = _outputs_and_gradients(reference, x, upstream), _outputs_and_gradients(ours, x, upstream)
    assert expected.keys() == actual.keys() == {"output", "d_input", "d_kernel", *({"d_bias"} if options.get("use_bias", True) else ())}
    assert actual["output"].shape == _output_shape(options.get("strides", 1))
    for name in expected:
        if dtype == "float32":  # Keras' own convolution: exactly
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
        else:
            scale = float(np.max(np.abs(expected[name])))
            np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=BF16_RTOL * scale, err_msg=name)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="GradientTape: the TensorFlow comparison")
def test_by_hand_a_strided_pointwise_convolution_is_a_matrix_product_of_every_other_pixel():
    _, ours = _pair("mixed_bfloat16", strides=2)
    x = np.arange(np.prod(SHAPE), dtype="float32").reshape(SHAPE) % 7 - 3  # small integers: exact in bf16
    kernel, bias = ours.get_weights()
    kernel_bf16 = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(kernel, "bfloat16"), "float32"))
    by_hand = x[:, ::2, ::2, :] @ kernel_bf16[0, 0] + keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(bias, "bfloat16"), "float32"))
    actual = keras.ops.convert_to_numpy(keras.ops.cast(ours(x), "float32"))
    np.testing.assert_allclose(actual, by_hand, rtol=2.0**-7, atol=2.0**-7 * float(np.max(np.abs(by_hand))))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's kernels")
def test_the_matrix_product_runs_only_for_bf16_pointwise_convolutions():
    import tensorflow as tf

    def op_types(layer):
        function = tf.function(lambda x: layer(x))
        return {op.type for op in function.get_concrete_function(tf.TensorSpec(SHAPE, "float32")).graph.get_operations()}

    assert "MatMul" in op_types(PointwiseConv2D(8, 1, dtype="mixed_bfloat16")) - op_types(keras.layers.Conv2D(8, 1, dtype="mixed_bfloat16"))
    for layer in (PointwiseConv2D(8, 1), PointwiseConv2D(8, 3, dtype="mixed_bfloat16"),
                  PointwiseConv2D(8, 1, dilation_rate=2, dtype="mixed_bfloat16")):
        assert "MatMul" not in op_types(layer) and any(t.startswith("Conv2D") for t in op_types(layer)), layer.get_config()


def test_same_config_and_weights_as_keras():
    ours, theirs = PointwiseConv2D(8, 1, strides=2, name="c"), keras.layers.Conv2D(8, 1, strides=2, name="c")
    ours.build(SHAPE)
    theirs.build(SHAPE)
    assert ours.get_config() == theirs.get_config()
    assert [(w.path, w.shape, w.dtype) for w in ours.weights] == [(w.path, w.shape, w.dtype) for w in theirs.weights]


def test_on_other_backends_it_is_keras_conv2d(monkeypatch):
    """Where the matrix product does not apply, the convolution is Keras' own, exactly."""
    monkeypatch.setattr(pointwise_module.keras.backend, "backend", lambda: "jax")
    reference, ours = _pair("mixed_bfloat16", strides=2)
    x = np.random.default_rng(0).normal(size=SHAPE).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(reference(x)))


def test_layer_checks(tmp_path):
    x = np.random.default_rng(0).normal(size=SHAPE).astype("float32")
    run_layer_test(PointwiseConv2D, {"filters": 8, "kernel_size": (1, 1), "strides": (2, 2)}, x, [_output_shape(2)], tmp_path,
                   expected_num_trainable_weights=2, expected_num_non_trainable_weights=0)
