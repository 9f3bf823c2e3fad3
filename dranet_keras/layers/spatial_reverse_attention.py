"""Spatial reverse attention (SIC): erase the most label-discriminative region of each stripe."""

from __future__ import annotations

import keras
from keras import layers, ops

from dranet_keras.layers.stripes import split_stripes

EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="dranet_keras")
class SpatialReverseAttention(layers.Layer):
    """Zero the cells where the class activation of the true identity is highest.

    In training, the class activation map (CAM) of label `n` is `x . W[:, n]`, with `W` the
    kernel (channels, num_ids) of the classifier that reads this branch. The CAM is min-max
    normalised within each horizontal stripe; cells with normalised CAM >= `erase_threshold`
    are set to zero (a spatial hard example). A stripe whose CAM is constant is left intact.
    At inference the layer is the identity. The layer owns no weights.

    Args:
        erase_threshold: normalised-CAM level at and above which cells are erased.
        parts: number of horizontal stripes (numpy.array_split heights).

    Example:
        >>> layer = SpatialReverseAttention(erase_threshold=0.6, parts=3)
        >>> x = keras.random.normal((2, 16, 8, 32))
        >>> kernel = keras.random.normal((32, 10))
        >>> layer(x, labels=ops.array([1, 7]), classifier_kernel=kernel, training=True).shape
        (2, 16, 8, 32)
    """

    def __init__(self, erase_threshold: float = 0.6, parts: int = 3, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < erase_threshold <= 1.0:
            raise ValueError(f"erase_threshold must be in (0, 1], got {erase_threshold}")
        if parts < 1:
            raise ValueError(f"parts must be >= 1, got {parts}")
        self.erase_threshold = erase_threshold
        self.parts = parts

    def erase_mask(self, x, labels, classifier_kernel):
        """1 where a cell is erased, 0 elsewhere; shape (batch, height, width)."""
        kernel = ops.cast(classifier_kernel, x.dtype)
        class_weights = ops.transpose(ops.take(kernel, ops.cast(labels, "int32"), axis=1))
        cam = ops.einsum("bhwc,bc->bhw", x, class_weights)
        erased = []
        for stripe in split_stripes(cam[..., None], self.parts):
            low = ops.min(stripe, axis=(1, 2, 3), keepdims=True)
            high = ops.max(stripe, axis=(1, 2, 3), keepdims=True)
            normalised = (stripe - low) / ops.maximum(high - low, EPSILON)
            erased.append(ops.cast(normalised >= self.erase_threshold, x.dtype))
        return ops.stop_gradient(ops.concatenate(erased, axis=1)[..., 0])

    def call(self, x, labels=None, classifier_kernel=None, training=None):
        if not training:
            return x
        if labels is None or classifier_kernel is None:
            raise ValueError(
                "SpatialReverseAttention needs `labels` and `classifier_kernel` in training "
                "(the CAM is taken for the true identity)"
            )
        return x * (1.0 - self.erase_mask(x, labels, classifier_kernel))[..., None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "erase_threshold": self.erase_threshold, "parts": self.parts}
