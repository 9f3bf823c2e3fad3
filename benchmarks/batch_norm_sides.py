"""The "before" of dranet_keras/layers/batch_normalization.py, for benchmarks that time both
sides: in a process that calls `use_keras_batch_normalization()` before building its model, every
`FusedBatchNormalization` computes as Keras' own `BatchNormalization` (the layer's fallback path),
with the same weights, config and statistics. One process per side: the switch is not undone."""

from __future__ import annotations


def use_keras_batch_normalization() -> None:
    """From now on, in this process, FusedBatchNormalization takes Keras' unfused path."""
    from dranet_keras.layers import batch_normalization

    batch_normalization.fused_kernel_applies = lambda layer, inputs, mask: False
