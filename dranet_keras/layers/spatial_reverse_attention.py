"""Spatial reverse attention (SIC + RSAM): class maps per identity, and B with the true
identity's region erased."""

from __future__ import annotations

import keras
from keras import layers, ops

from dranet_keras.choices import ERASES, Erase
from dranet_keras.layers.batch_normalization import FusedBatchNormalization
from dranet_keras.layers.normalization import BN_MOMENTUM
from dranet_keras.layers.stripes import split_stripes
EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="dranet_keras")
class SpatialReverseAttention(layers.Layer):
    """SIC's classifier on B and RSAM's spatial hard example.

    * `F = ReLU(BN(conv3x3_K(B)))` (f_3x3, K = B's channels); `H = conv1x1_n(F)` (f_1x1: one
      class map per identity, n = `num_ids`); GAP(H) is SIC's logits. f_1x1 computes in float32
      whatever the layer's policy, as the heads' classifiers do: under mixed precision H, SIC's
      logits and h are float32 (bf16 would round them to 8 bits), F and D the compute dtype.
    * In training, with the true `labels` y: `h = H[..., y]`, min-max normalised within each
      horizontal stripe, without gradient (an erasing mask, not a path for the loss), and
      `D = B * (1 - h)` (`erase="soft"`, as the paper draws it) or `D = B * [h < erase_threshold]`
      (`"hard"`, ACoL's thresholded erasing). A stripe whose map is constant is kept whole.

    `call(B, labels=None, training=None)` returns `(F, H)`, and `(F, H, D)` in training
    (labels required then). Inference needs no labels and is deterministic.

    Args:
        num_ids: number of identities (class maps).
        parts: number of horizontal stripes for the normalisation of h.
        erase: "soft" | "hard".
        erase_threshold: with "hard", cells with h >= this are erased.

    Example:
        >>> layer = SpatialReverseAttention(num_ids=10, parts=3)
        >>> f, h, d = layer(keras.ops.ones((2, 16, 8, 32)), labels=keras.ops.array([1, 7]), training=True)
        >>> f.shape, h.shape, d.shape
        ((2, 16, 8, 32), (2, 16, 8, 10), (2, 16, 8, 32))
    """

    def __init__(self, num_ids: int, parts: int = 3, erase: Erase = "soft", erase_threshold: float = 0.6, **kwargs):
        super().__init__(**kwargs)
        if num_ids < 2:
            raise ValueError(f"num_ids must be >= 2, got {num_ids}")
        if parts < 1:
            raise ValueError(f"parts must be >= 1, got {parts}")
        if erase not in ERASES:
            raise ValueError(f"erase must be one of {list(ERASES)}, got {erase!r}")
        if not 0.0 < erase_threshold <= 1.0:
            raise ValueError(f"erase_threshold must be in (0, 1], got {erase_threshold}")
        self.num_ids = num_ids
        self.parts = parts
        self.erase = erase
        self.erase_threshold = erase_threshold

    def build(self, input_shape):
        channels = input_shape[-1]
        policy = self.dtype_policy
        self.conv3x3 = layers.Conv2D(channels, 3, padding="same", use_bias=False, name="f_3x3", dtype=policy)
        self.bn = FusedBatchNormalization(momentum=BN_MOMENTUM, name="f_3x3_bn", dtype=policy)
        # float32, as the heads' classifiers: H, its GAP (SIC's logits) and h from it stay float32
        # under mixed precision (bf16 would round every class map and every logit to 8 bits).
        self.conv1x1 = layers.Conv2D(self.num_ids, 1, name="f_1x1", dtype="float32")
        self.conv3x3.build(input_shape)
        self.bn.build((*input_shape[:-1], channels))
        self.conv1x1.build((*input_shape[:-1], channels))

    def features(self, x, training=None):
        """(F, H): SIC's feature map and its class maps."""
        features = ops.relu(self.bn(self.conv3x3(x), training=training))
        return features, self.conv1x1(features)

    def class_map(self, class_maps, labels):
        """h: the true identity's class map, min-max normalised per stripe, no gradient;
        shape (batch, height, width)."""
        one_hot = ops.one_hot(ops.cast(labels, "int32"), self.num_ids, dtype=class_maps.dtype)
        chosen = ops.sum(class_maps * one_hot[:, None, None, :], axis=-1, keepdims=True)
        normalised = []
        for stripe in split_stripes(chosen, self.parts):
            low = ops.min(stripe, axis=(1, 2, 3), keepdims=True)
            high = ops.max(stripe, axis=(1, 2, 3), keepdims=True)
            normalised.append((stripe - low) / ops.maximum(high - low, EPSILON))
        return ops.stop_gradient(ops.concatenate(normalised, axis=1)[..., 0])

    def call(self, x, labels=None, training=None):
        features, class_maps = self.features(x, training=training)
        if not training:
            return features, class_maps
        if labels is None:
            raise ValueError("SpatialReverseAttention needs `labels` in training (it erases the true identity's map)")
        h = ops.cast(self.class_map(class_maps, labels), x.dtype)
        keep = 1.0 - h if self.erase == "soft" else ops.cast(h < self.erase_threshold, x.dtype)
        return features, class_maps, x * keep[..., None]

    def get_config(self):
        return {
            **super().get_config(),
            "num_ids": self.num_ids,
            "parts": self.parts,
            "erase": self.erase,
            "erase_threshold": self.erase_threshold,
        }
