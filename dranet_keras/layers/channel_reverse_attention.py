"""Channel reverse attention (CIC): per-stripe squeeze-excitation masks, reversed in training."""

from __future__ import annotations

import keras
from keras import layers, ops

from dranet_keras.layers.stripes import split_stripes


@keras.saving.register_keras_serializable(package="dranet_keras")
class ChannelReverseAttention(layers.Layer):
    """Cut a feature map into horizontal stripes and re-weight each stripe's channels.

    Each stripe gets its own squeeze-and-excitation block giving a channel mask `m` in (0, 1).
    Training: `x * (1 - m)` suppresses the most informative channels (a channel-wise hard
    example). Inference: `x * m`.

    Args:
        reduction: bottleneck ratio of the squeeze-excitation block (channels // reduction).
        parts: number of horizontal stripes (numpy.array_split heights).

    Example:
        >>> layer = ChannelReverseAttention(reduction=16, parts=3)
        >>> layer(keras.ops.ones((2, 16, 8, 64)), training=True).shape
        (2, 16, 8, 64)
    """

    def __init__(self, reduction: int = 16, parts: int = 3, **kwargs):
        super().__init__(**kwargs)
        if reduction < 1 or parts < 1:
            raise ValueError(f"reduction and parts must be >= 1, got {reduction}, {parts}")
        self.reduction = reduction
        self.parts = parts

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.reduction)
        self.squeeze = []
        self.excite = []
        for part in range(self.parts):
            squeeze = layers.Dense(hidden, activation="relu", name=f"part{part}_squeeze", dtype=self.dtype_policy)
            excite = layers.Dense(channels, activation="sigmoid", name=f"part{part}_excite", dtype=self.dtype_policy)
            squeeze.build((None, channels))
            excite.build((None, hidden))
            self.squeeze.append(squeeze)
            self.excite.append(excite)

    def _stripe_masks(self, x):
        stripes = split_stripes(x, self.parts)
        masks = [
            excite(squeeze(ops.mean(stripe, axis=(1, 2))))
            for stripe, squeeze, excite in zip(stripes, self.squeeze, self.excite)
        ]
        return stripes, masks

    def masks(self, x):
        """Channel masks `m`, shape (batch, parts, channels)."""
        return ops.stack(self._stripe_masks(x)[1], axis=1)

    def call(self, x, training=None):
        stripes, masks = self._stripe_masks(x)
        outputs = []
        for stripe, mask in zip(stripes, masks):
            weight = (1.0 - mask) if training else mask
            outputs.append(stripe * weight[:, None, None, :])
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "parts": self.parts}
