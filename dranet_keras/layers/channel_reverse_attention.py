"""Channel reverse attention (CIC + RCAM): per-stripe squeeze-excitation masks and their reverse."""

from __future__ import annotations

import keras
from keras import layers, ops

from dranet_keras.choices import REVERSE_GRADIENTS, ReverseGradient
from dranet_keras.layers.stripes import split_stripes


@keras.saving.register_keras_serializable(package="dranet_keras")
class ChannelReverseAttention(layers.Layer):
    """Cut a feature map A into horizontal stripes and weight each stripe's channels.

    Each stripe p has its own squeeze-and-excitation block,
    `m_p = sigmoid(W2 relu(W1 GAP(A_p)))`. The layer returns `(B, C)`, stripes re-assembled
    along the height:

    * `B_p = A_p * m_p`: the informative channels (CIC);
    * `C_p = A_p * (1 - m_p)`: the reverse, a channel-wise hard example (RCAM). With
      `reverse_gradient="stop"` (default) `m_p` is a constant there: the loss on C would
      otherwise teach m to be low on informative channels, undoing both B and the hard
      example (erasing methods such as ACoL cut this gradient too); m then learns through B.
      `"through"` lets the gradient flow.

    Args:
        reduction: bottleneck ratio of the squeeze-excitation block (channels // reduction).
        parts: number of horizontal stripes (numpy.array_split heights).
        reverse_gradient: "stop" | "through": whether C passes a gradient to the masks.

    Example:
        >>> b, c = ChannelReverseAttention(reduction=16, parts=3)(keras.ops.ones((2, 16, 8, 64)))
        >>> b.shape, c.shape
        ((2, 16, 8, 64), (2, 16, 8, 64))
    """

    def __init__(self, reduction: int = 16, parts: int = 3, reverse_gradient: ReverseGradient = "stop", **kwargs):
        super().__init__(**kwargs)
        if reduction < 1 or parts < 1:
            raise ValueError(f"reduction and parts must be >= 1, got {reduction}, {parts}")
        if reverse_gradient not in REVERSE_GRADIENTS:
            raise ValueError(f"reverse_gradient must be one of {list(REVERSE_GRADIENTS)}, got {reverse_gradient!r}")
        self.reduction = reduction
        self.parts = parts
        self.reverse_gradient = reverse_gradient

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

    def call(self, x):
        stripes, masks = self._stripe_masks(x)
        attended, reversed_ = [], []
        for stripe, mask in zip(stripes, masks):
            reverse_mask = ops.stop_gradient(mask) if self.reverse_gradient == "stop" else mask
            attended.append(stripe * mask[:, None, None, :])
            reversed_.append(stripe * (1.0 - reverse_mask)[:, None, None, :])
        return ops.concatenate(attended, axis=1), ops.concatenate(reversed_, axis=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "parts": self.parts,
            "reverse_gradient": self.reverse_gradient,
        }
