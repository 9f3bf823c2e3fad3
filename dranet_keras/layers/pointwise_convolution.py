"""1x1 convolution computed as a matrix product under bfloat16 on TensorFlow's CPU kernels.

Why it exists: TensorFlow 2.21's oneDNN convolution backward-weights in bf16 (`brgconv_bwd_w`,
on AMX or AVX512-BF16) runs several times slower than its forward pass and than oneDNN's
matrix product of the same FLOPs (`brg_matmul`); it was most of what kept a bf16 ResNet50 train
step behind torchvision's (docs/benchmarks.md). A 1x1 convolution is exactly the product of the
(N·H·W, C_in) pixels by the (C_in, C_out) kernel, and TensorFlow computes that product and both
its gradients fast. In float32 TensorFlow's convolution is the faster and stays, as it does on
GPUs, other backends and every other kernel size.

Drop this layer once TensorFlow's bf16 backward-weights convolution is as fast as its matrix
product: `benchmarks/pointwise_convolution.py` prints the ratio.

Same weights (the (1, 1, C_in, C_out) kernel and the bias), config and serialization as
`keras.layers.Conv2D`, so ImageNet weights transfer by name.
"""

from __future__ import annotations

import functools

import keras


@functools.cache
def _gpus_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def matmul_applies(layer: keras.layers.Conv2D, inputs) -> bool:
    """Whether the layer's convolution runs as a matrix product: TensorFlow backend on CPU, bf16
    compute, a 1x1 kernel, no dilation, one group, channels-last."""
    return (
        keras.backend.backend() == "tensorflow"
        and keras.backend.standardize_dtype(inputs.dtype) == "bfloat16"
        and tuple(layer.kernel_size) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.groups == 1
        and layer.data_format == "channels_last"
        and not _gpus_visible()
    )


@keras.saving.register_keras_serializable(package="dranet_keras")
class PointwiseConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose 1x1 case is a matrix product under bf16 on TensorFlow's CPU
    kernels (see the module docstring); Keras' own convolution everywhere else."""

    def convolution_op(self, inputs, kernel):
        if not matmul_applies(self, inputs):
            return super().convolution_op(inputs, kernel)
        import tensorflow as tf  # only on the TensorFlow backend: the layer imports without it

        # A 1x1 kernel reads one pixel per output: a stride picks every s-th pixel, and "same"
        # padding adds none (its total is max((out - 1) * s + 1 - size, 0) = 0).
        rows, cols = self.strides
        pixels = inputs[:, ::rows, ::cols, :] if (rows, cols) != (1, 1) else inputs
        shape = tf.shape(pixels)
        kernel = tf.reshape(tf.cast(kernel, pixels.dtype), (kernel.shape[-2], self.filters))
        outputs = tf.matmul(tf.reshape(pixels, (-1, pixels.shape[-1])), kernel)
        return tf.reshape(outputs, tf.concat([shape[:-1], [self.filters]], axis=0))
