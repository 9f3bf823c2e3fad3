"""BatchNormalization that runs TensorFlow's fused kernel where it is valid.

Why it exists: Keras 3's `BatchNormalization` on TensorFlow is `ops.moments` plus
`ops.batch_normalization` (keras/src/backend/tensorflow/nn.py): a dozen unfused elementwise and
reduction ops per layer, forward and backward, and under mixed precision a cast of every bf16
input to float32 and back. tf.keras 2 used `FusedBatchNormV3` (one oneDNN kernel on CPU, one
cuDNN kernel on GPU; keras-team/keras-core#225, "BatchNorm is slow"). On a 2-core CPU the fused
kernel makes a ResNet50 train step 1.2x (fp32) to 1.45x (bf16) faster (benchmarks/peer_step.py).

Drop this layer once Keras fuses BatchNormalization itself:
tests/layers/test_batch_normalization.py has a fence test that fails when it does.

Same weights (names, shapes, float32), config and statistics as `keras.layers.BatchNormalization`
(Keras' biased moving variance, not the kernel's Bessel-corrected one), so ImageNet weights
transfer by name and `.keras` files that hold Keras' own layer still load as that layer.
"""

from __future__ import annotations

import keras

# FusedBatchNormV3 clamps epsilon to cuDNN's minimum; below it, Keras' path keeps the meaning.
_FUSED_MIN_EPSILON = 1.001e-5
_FUSED_DTYPES = ("float16", "bfloat16", "float32")


def fused_kernel_applies(layer: keras.layers.BatchNormalization, inputs, mask) -> bool:
    """Whether TensorFlow's fused kernel computes exactly what Keras' BatchNormalization would:
    TensorFlow backend, 4-D channels-last input of a supported dtype, no mask, not synchronized,
    no renorm, an epsilon the kernel does not clamp."""
    return (
        keras.backend.backend() == "tensorflow"
        and len(inputs.shape) == 4
        and layer.axis in (-1, 3)
        and mask is None
        and not layer.synchronized
        and not layer.renorm
        and layer.epsilon >= _FUSED_MIN_EPSILON
        and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES
    )


@keras.saving.register_keras_serializable(package="dranet_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by `FusedBatchNormV3` on TensorFlow (see the
    module docstring); Keras' own computation everywhere else (JAX, torch, other ranks).

    Under `mixed_bfloat16` the kernel reads and writes bf16 and keeps float32 statistics.
    """

    def call(self, inputs, training=None, mask=None):
        if not fused_kernel_applies(self, inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only on the TensorFlow backend: the layer imports without it

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones((channels,), "float32")
        beta = self.beta if self.center else tf.zeros((channels,), "float32")
        if training and self.trainable:
            outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
            )
            # The kernel returns the Bessel-corrected variance; Keras' moving variance is biased.
            count = tf.cast(tf.size(inputs, out_type=tf.int64) // channels, "float32")
            variance = unbiased_variance * tf.maximum(count - 1.0, 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs,
                gamma,
                beta,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return keras.ops.cast(outputs, self.compute_dtype)
