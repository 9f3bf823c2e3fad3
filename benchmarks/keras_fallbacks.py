"""The "before" of the layers that stand in for Keras' own (dranet_keras/layers/
batch_normalization.py, pointwise_convolution.py), for benchmarks that time both sides: in a
process that calls one of these before building its model, every such layer computes as Keras'
own, with the same weights and config. One process per side: a switch is not undone."""

from __future__ import annotations


def use_keras_batch_normalization() -> None:
    """From now on, in this process, FusedBatchNormalization takes Keras' unfused path."""
    from dranet_keras.layers import batch_normalization

    batch_normalization.fused_kernel_applies = lambda layer, inputs, mask: False


def use_keras_convolution() -> None:
    """From now on, in this process, PointwiseConv2D convolves as Keras' Conv2D does."""
    from dranet_keras.layers import pointwise_convolution

    pointwise_convolution.matmul_applies = lambda layer, inputs: False
