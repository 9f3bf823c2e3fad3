"""DRANet: ResNet50 + channel and spatial reverse attention on horizontal stripes."""

from __future__ import annotations

import keras
from keras import layers, ops
from keras.src.losses.loss import scale_loss_for_distribution  # no public alias in Keras 3; fenced by tests/test_keras_fences.py

from dranet_keras.layers import ChannelReverseAttention, SpatialReverseAttention
from dranet_keras.losses import batch_hard_triplet, cross_entropy
from dranet_keras.models.resnet import BN_MOMENTUM, ImageNetNormalization, resnet50
from dranet_keras.variants import BRANCHES


class _Head(layers.Layer):
    """GAP -> BatchNorm -> Dense(num_ids, no bias): one classification branch."""

    def __init__(self, num_ids: int, **kwargs):
        super().__init__(**kwargs)
        self.num_ids = num_ids
        self.norm = layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn", dtype=self.dtype_policy)
        # Logits in float32 keeps the softmax stable under mixed precision.
        self.classifier = layers.Dense(num_ids, use_bias=False, name="classifier", dtype="float32")

    def build(self, channels):
        self.norm.build((None, channels))
        self.classifier.build((None, channels))

    def call(self, pooled, training=None):
        return self.classifier(self.norm(pooled, training=training))

    def get_config(self):
        return {**super().get_config(), "num_ids": self.num_ids}


@keras.saving.register_keras_serializable(package="dranet_keras")
class DRANet(keras.Model):
    """Dual reverse attention network for person re-identification.

    Inputs are raw RGB images (0..255, float or uint8); ImageNet normalisation is inside.

    * `model(images, training=False)` -> embedding (batch, 2 * reduce_dim); `reduce_dim` for
      `baseline`: concat(GAP(X), GAP(last attended map)).
    * `model({"images": x, "labels": y}, training=True)` -> dict of logits, one key per branch
      of the variant (`"b"`, `"c"`, `"s"`), plus `"features"` = GAP(X) for the triplet loss.
      With `training=False` the dict also holds `"embedding"`.

    The model computes its own loss (sum of weighted cross entropies, optional batch-hard
    triplet), so `model.compile(optimizer=...)` + `model.fit(dataset)` works on a dataset of
    `({"images", "labels"}, labels)`.
    """

    def __init__(
        self,
        num_ids: int,
        variant: str = "dra",
        input_shape=(256, 128, 3),
        parts: int = 3,
        last_stride: int = 1,
        weights=None,
        reduction: int = 16,
        erase_threshold: float = 0.6,
        reduce_dim: int = 1024,
        label_smoothing: float = 0.0,
        loss_weight_c: float = 1.0,
        loss_weight_s: float = 1.0,
        triplet_weight: float = 0.0,
        triplet_margin: float = 0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if variant not in BRANCHES:
            raise ValueError(f"variant must be one of {list(BRANCHES)}, got {variant!r}")
        if num_ids < 2:
            raise ValueError(f"num_ids must be >= 2, got {num_ids}")
        self.num_ids = num_ids
        self.variant = variant
        self.image_shape = tuple(input_shape)
        self.parts = parts
        self.last_stride = last_stride
        self.reduction = reduction
        self.erase_threshold = erase_threshold
        self.reduce_dim = reduce_dim
        self.label_smoothing = label_smoothing
        self.loss_weight_c = loss_weight_c
        self.loss_weight_s = loss_weight_s
        self.triplet_weight = triplet_weight
        self.triplet_margin = triplet_margin
        self.branches = BRANCHES[variant]

        self.normalize = ImageNetNormalization(name="imagenet_normalization")
        self.backbone = resnet50(self.image_shape, last_stride=last_stride, weights=weights)
        self.reduce_conv = layers.Conv2D(reduce_dim, 1, use_bias=False, name="reduce_conv")
        self.reduce_bn = layers.BatchNormalization(momentum=BN_MOMENTUM, name="reduce_bn")
        self.channel_attention = (
            ChannelReverseAttention(reduction, parts, name="channel_reverse_attention") if "c" in self.branches else None
        )
        self.spatial_attention = (
            SpatialReverseAttention(erase_threshold, parts, name="spatial_reverse_attention")
            if "s" in self.branches
            else None
        )
        self.heads = {branch: _Head(num_ids, name=f"head_{branch}") for branch in self.branches}
        self.loss_trackers = {branch: keras.metrics.Mean(name=f"ce_{branch}") for branch in self.branches}
        if triplet_weight > 0:
            self.loss_trackers["triplet"] = keras.metrics.Mean(name="triplet")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.build()

    @property
    def embedding_dim(self) -> int:
        return self.reduce_dim * (1 if self.variant == "baseline" else 2)

    def build(self, input_shape=None):
        if self.built:
            return
        feature_shape = self.backbone.output_shape
        self.reduce_conv.build(feature_shape)
        reduced_shape = feature_shape[:-1] + (self.reduce_dim,)
        self.reduce_bn.build(reduced_shape)
        if self.channel_attention is not None:
            self.channel_attention.build(reduced_shape)
        if self.spatial_attention is not None:
            self.spatial_attention.build(reduced_shape)
        for head in self.heads.values():
            head.build(self.reduce_dim)
        self.built = True

    def get_build_config(self):
        return {"input_shape": (None, *self.image_shape)}

    def build_from_config(self, config):
        self.build()

    def feature_map(self, images, training=False):
        """The reduced base feature map X, shape (batch, H/16, W/16, reduce_dim)."""
        x = self.backbone(self.normalize(images), training=training)
        return ops.relu(self.reduce_bn(self.reduce_conv(x), training=training))

    def attention_maps(self, images, labels):
        """What the reverse attentions see, for inspection (inference statistics).

        Returns a dict with `"channel_masks"` (batch, parts, reduce_dim) when the variant has
        CIC, and `"erase_mask"` (batch, H/16, W/16; 1 = erased in training) when it has SIC.
        """
        x = self.feature_map(images, training=False)
        maps = {}
        if self.channel_attention is not None:
            maps["channel_masks"] = self.channel_attention.masks(x)
            x = self.channel_attention(x, training=True)
        if self.spatial_attention is not None:
            kernel = self.heads["s"].classifier.kernel
            maps["erase_mask"] = self.spatial_attention.erase_mask(x, labels, kernel)
        return maps

    def call(self, inputs, training=None):
        as_dict = isinstance(inputs, dict)
        images = inputs["images"] if as_dict else inputs
        labels = inputs.get("labels") if as_dict else None
        if training and labels is None:
            raise ValueError(
                "DRANet in training needs {'images': ..., 'labels': ...}: the spatial reverse "
                "attention erases the region of the true identity"
            )
        x = self.feature_map(images, training)
        pooled = {"b": ops.mean(x, axis=(1, 2))}
        attended = x
        if self.channel_attention is not None:
            attended = self.channel_attention(attended, training=training)
            pooled["c"] = ops.mean(attended, axis=(1, 2))
        if self.spatial_attention is not None:
            kernel = self.heads["s"].classifier.kernel if training else None
            attended = self.spatial_attention(attended, labels=labels, classifier_kernel=kernel, training=training)
            pooled["s"] = ops.mean(attended, axis=(1, 2))
        embedding = pooled["b"] if self.variant == "baseline" else ops.concatenate([pooled["b"], ops.mean(attended, axis=(1, 2))], axis=-1)
        if not as_dict:
            return embedding
        outputs = {branch: self.heads[branch](pooled[branch], training=training) for branch in self.branches}
        outputs["features"] = pooled["b"]
        if not training:
            outputs["embedding"] = embedding
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        weights = {"b": 1.0, "c": self.loss_weight_c, "s": self.loss_weight_s}
        total = 0.0
        for branch in self.branches:
            branch_loss = cross_entropy(y, y_pred[branch], self.label_smoothing)
            self.loss_trackers[branch].update_state(branch_loss)
            total = total + weights[branch] * branch_loss
        if self.triplet_weight > 0:
            triplet = batch_hard_triplet(y, y_pred["features"], self.triplet_margin)
            self.loss_trackers["triplet"].update_state(triplet)
            total = total + self.triplet_weight * triplet
        self.accuracy_tracker.update_state(y, y_pred["b"])
        for extra in self.losses:  # e.g. kernel regularizers a user added
            total = total + ops.cast(extra, "float32")
        # Keras' convention under tf.distribute: each replica returns its share (1/replicas),
        # as gradients are summed across replicas (and the logged loss is scaled back).
        return scale_loss_for_distribution(total)

    def get_config(self):
        return {
            **super().get_config(),
            "num_ids": self.num_ids,
            "variant": self.variant,
            "input_shape": list(self.image_shape),
            "parts": self.parts,
            "last_stride": self.last_stride,
            "reduction": self.reduction,
            "erase_threshold": self.erase_threshold,
            "reduce_dim": self.reduce_dim,
            "label_smoothing": self.label_smoothing,
            "loss_weight_c": self.loss_weight_c,
            "loss_weight_s": self.loss_weight_s,
            "triplet_weight": self.triplet_weight,
            "triplet_margin": self.triplet_margin,
        }


def build_dranet(
    num_ids: int,
    variant: str = "dra",
    input_shape=(256, 128, 3),
    parts: int = 3,
    last_stride: int = 1,
    weights=None,
    **kwargs,
) -> DRANet:
    """Build a DRANet (see `DRANet` for the call conventions and the loss arguments).

    Example:
        >>> model = build_dranet(num_ids=751, variant="dra")
        >>> model(keras.ops.zeros((1, 256, 128, 3))).shape
        (1, 2048)
    """
    return DRANet(
        num_ids,
        variant=variant,
        input_shape=input_shape,
        parts=parts,
        last_stride=last_stride,
        weights=weights,
        **kwargs,
    )
