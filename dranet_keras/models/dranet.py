"""DRANet: a ResNet (50 in the paper) + channel and spatial reverse attention on horizontal stripes.

The wiring (A: reduced backbone map; m: channel masks; h: the true identity's class map):

    A -> CIC: B = A * m,  RCAM: C = A * (1 - sg(m))               (ChannelReverseAttention)
    B -> SIC: F = ReLU(BN(conv3x3(B))), H = conv1x1(F), logits GAP(H)
         RSAM: D = B * (1 - h)  (or B * [h < t])                     (SpatialReverseAttention)
    heads C, D (and the plain head of baseline / cic): GAP -> BN -> Dense(num_ids)
    loss = CE(GAP(H) or plain) + w_c CE(C) + w_d CE(D) [+ triplet]
    descriptor = concat(GAP(B), GAP(F)) (per variant), standardised by a BatchNorm by default
"""

from __future__ import annotations

import keras
from keras import layers, ops
from keras.src.losses.loss import scale_loss_for_distribution  # no public alias in Keras 3; fenced by tests/test_keras_fences.py

from dranet_keras.choices import DESCRIPTORS, VARIANTS, Descriptor, Erase, ReverseGradient, Variant
from dranet_keras.layers import ChannelReverseAttention, FusedBatchNormalization, SpatialReverseAttention
from dranet_keras.layers.normalization import BN_MOMENTUM
from dranet_keras.losses import batch_hard_triplet, cross_entropy
from dranet_keras.models.resnet import ImageNetNormalization, resnet

# The classification outputs (one loss each) of every variant: "b" a plain head on GAP(B)
# (B = A without CIC), "sic" SIC's GAP(H), "c" RCAM's head, "d" RSAM's head.
HEADS = {"baseline": ("b",), "cic": ("b", "c"), "sic": ("sic", "d"), "dra": ("sic", "c", "d")}


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

    def call(self, feature_map, training=None):
        return self.classifier(self.norm(ops.mean(feature_map, axis=(1, 2)), training=training))

    def get_config(self):
        return {**super().get_config(), "num_ids": self.num_ids}


@keras.saving.register_keras_serializable(package="dranet_keras")
class DRANet(keras.Model):
    """Dual reverse attention network for person re-identification.

    Inputs are raw RGB images (0..255, float or uint8); ImageNet normalisation is inside.

    * `model(images, training=False)` -> the descriptor (batch, `embedding_dim`): GAP(A) for
      `baseline`, GAP(B) for `cic`, concat(GAP(A), GAP(F)) for `sic`, concat(GAP(B), GAP(F))
      for `dra`; with `descriptor="bn"` standardised by a BatchNorm (see `describe`).
    * `model({"images": x, "labels": y}, training=True)` -> dict of logits, one key per loss of
      the variant (`HEADS`), plus `"features"` (the descriptor before standardisation, which
      the triplet loss reads) and `"embedding"`. RSAM needs the labels in training.

    The model computes its own loss, `CE(plain or SIC) + loss_weight_c CE(C) + loss_weight_d
    CE(D)` (label smoothing) `+ triplet_weight * batch-hard triplet`, so
    `model.compile(optimizer=...)` + `model.fit(dataset)` works on `({"images", "labels"}, labels)`.
    """

    def __init__(
        self,
        num_ids: int,
        variant: Variant = "dra",
        input_shape=(256, 128, 3),
        parts: int = 3,
        depth: int = 50,
        last_stride: int = 1,
        weights: str | None = None,
        reduction: int = 16,
        reverse_gradient: ReverseGradient = "stop",
        erase: Erase = "soft",
        erase_threshold: float = 0.6,
        reduce_dim: int = 1024,
        descriptor: Descriptor = "bn",
        label_smoothing: float = 0.1,
        loss_weight_c: float = 1.0,
        loss_weight_d: float = 1.0,
        triplet_weight: float = 0.0,
        triplet_margin: float = 0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        if descriptor not in DESCRIPTORS:
            raise ValueError(f"descriptor must be one of {list(DESCRIPTORS)}, got {descriptor!r}")
        if num_ids < 2:
            raise ValueError(f"num_ids must be >= 2, got {num_ids}")
        self.num_ids = num_ids
        self.variant = variant
        self.image_shape = tuple(input_shape)
        self.parts = parts
        self.depth = depth
        self.last_stride = last_stride
        self.reduction = reduction
        self.reverse_gradient = reverse_gradient
        self.erase = erase
        self.erase_threshold = erase_threshold
        self.reduce_dim = reduce_dim
        self.descriptor = descriptor
        self.label_smoothing = label_smoothing
        self.loss_weight_c = loss_weight_c
        self.loss_weight_d = loss_weight_d
        self.triplet_weight = triplet_weight
        self.triplet_margin = triplet_margin
        self.heads_of_variant = HEADS[variant]

        self.normalize = ImageNetNormalization(name="imagenet_normalization")
        self.backbone = resnet(self.image_shape, depth, last_stride, weights)
        self.reduce_conv = layers.Conv2D(reduce_dim, 1, use_bias=False, name="reduce_conv")
        self.reduce_bn = FusedBatchNormalization(momentum=BN_MOMENTUM, name="reduce_bn")
        self.channel_attention = (
            ChannelReverseAttention(reduction, parts, reverse_gradient, name="channel_reverse_attention")
            if "c" in self.heads_of_variant
            else None
        )
        self.spatial_attention = (
            SpatialReverseAttention(num_ids, parts, erase, erase_threshold, name="spatial_reverse_attention")
            if "sic" in self.heads_of_variant
            else None
        )
        self.heads = {key: _Head(num_ids, name=f"head_{key}") for key in self.heads_of_variant if key != "sic"}
        # Without scale and offset: a standardisation by the training statistics, not a weight.
        self.descriptor_norm = (
            layers.BatchNormalization(momentum=BN_MOMENTUM, center=False, scale=False, name="descriptor_bn")
            if descriptor == "bn"
            else None
        )
        self.loss_trackers = {key: keras.metrics.Mean(name=f"ce_{key}") for key in self.heads_of_variant}
        if triplet_weight > 0:
            self.loss_trackers["triplet"] = keras.metrics.Mean(name="triplet")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.build()

    @property
    def embedding_dim(self) -> int:
        return self.reduce_dim * (2 if self.spatial_attention is not None else 1)

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
        if self.descriptor_norm is not None:
            self.descriptor_norm.build((None, self.embedding_dim))
        self.built = True

    def get_build_config(self):
        return {"input_shape": (None, *self.image_shape)}

    def build_from_config(self, config):
        self.build()

    def feature_map(self, images, training=False):
        """A: the reduced backbone map, shape (batch, H/16, W/16, reduce_dim)."""
        x = self.backbone(self.normalize(images), training=training)
        return ops.relu(self.reduce_bn(self.reduce_conv(x), training=training))

    def describe(self, features, training=False):
        """The retrieval descriptor from the pooled `features`.

        `descriptor="bn"` (default): `(features - mean) / std` with the BatchNorm's running
        statistics of the training images. The pooled maps follow ReLUs, so every entry is
        >= 0 and all descriptors share one large mean direction: under cosine every pair is
        close to 1 (distances ~1e-3) and the few channels with large activations dominate.
        Centring removes the shared component and scaling weighs every channel alike, which
        is what Bag of Tricks retrieves with (its feature after the BN neck). `"raw"`: as pooled.
        """
        if self.descriptor_norm is None:
            return features
        return self.descriptor_norm(features, training=training)

    def head_outputs(self, a, labels=None, training=None):
        """Everything after the backbone, from A: the dict `call` returns in dict mode.

        RSAM's `"d"` is computed in training only (it needs the labels)."""
        outputs = {}
        b = a
        if self.channel_attention is not None:
            b, c = self.channel_attention(a)
            outputs["c"] = self.heads["c"](c, training=training)
        if "b" in self.heads:
            outputs["b"] = self.heads["b"](b, training=training)
        pooled = [ops.mean(b, axis=(1, 2))]
        if self.spatial_attention is not None:
            if training:
                f, class_maps, d = self.spatial_attention(b, labels=labels, training=True)
                outputs["d"] = self.heads["d"](d, training=True)
            else:
                f, class_maps = self.spatial_attention(b, training=training)
            outputs["sic"] = ops.mean(class_maps, axis=(1, 2))  # float32: f_1x1 is a float32 classifier
            pooled.append(ops.mean(f, axis=(1, 2)))
        features = pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)
        outputs["features"] = features
        outputs["embedding"] = self.describe(features, training=training)
        return outputs

    def attention_maps(self, images, labels):
        """What the attentions see (inference statistics), for pictures.

        A dict with `"channel_masks"`, m (batch, parts, reduce_dim), when the variant has CIC,
        and `"class_map"`, RSAM's h (batch, H/16, W/16: the true identity's class map
        min-max normalised per stripe; soft erasing keeps B * (1 - h)), when it has SIC.
        """
        a = self.feature_map(images, training=False)
        maps = {}
        b = a
        if self.channel_attention is not None:
            maps["channel_masks"] = ops.cast(self.channel_attention.masks(a), "float32")
            b, _ = self.channel_attention(a)
        if self.spatial_attention is not None:
            _, class_maps = self.spatial_attention.features(b, training=False)
            maps["class_map"] = ops.cast(self.spatial_attention.class_map(class_maps, labels), "float32")
        return maps

    def call(self, inputs, training=None):
        as_dict = isinstance(inputs, dict)
        images = inputs["images"] if as_dict else inputs
        labels = inputs.get("labels") if as_dict else None
        if training and labels is None and self.spatial_attention is not None:
            raise ValueError(
                "DRANet in training needs {'images': ..., 'labels': ...}: the spatial reverse "
                "attention erases the region of the true identity"
            )
        outputs = self.head_outputs(self.feature_map(images, training), labels, training)
        return outputs if as_dict else outputs["embedding"]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        weights = {"b": 1.0, "sic": 1.0, "c": self.loss_weight_c, "d": self.loss_weight_d}
        total = 0.0
        for key in self.heads_of_variant:
            if key not in y_pred:  # "d" outside training
                continue
            head_loss = cross_entropy(y, y_pred[key], self.label_smoothing)
            self.loss_trackers[key].update_state(head_loss)
            total = total + weights[key] * head_loss
        if self.triplet_weight > 0:
            triplet = batch_hard_triplet(y, y_pred["features"], self.triplet_margin)
            self.loss_trackers["triplet"].update_state(triplet)
            total = total + self.triplet_weight * triplet
        self.accuracy_tracker.update_state(y, y_pred[self.heads_of_variant[0]])
        for extra in self.losses:  # e.g. kernel regularizers a user added
            total = total + ops.cast(extra, "float32")
        # Keras' convention under tf.distribute: each replica returns its share (1/replicas),
        # as gradients are summed across replicas (and the logged loss is scaled back).
        return scale_loss_for_distribution(total)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # A saved model carries its weights: a `weights` entry (a path to read, "imagenet" to
        # download) in a file's config is ignored, never followed.
        config = {key: value for key, value in config.items() if key != "weights"}
        # Keras restores the model's own dtype policy, but the sublayers `__init__` creates take
        # the global one: build them under the saved policy, so that a model trained in mixed
        # precision reloads (and extracts features) in it, whatever the loading process's policy.
        previous = keras.mixed_precision.dtype_policy()
        if config.get("dtype") is not None:
            keras.mixed_precision.set_dtype_policy(keras.dtype_policies.get(config["dtype"]))
        try:
            return super().from_config(config, custom_objects)
        finally:
            keras.mixed_precision.set_dtype_policy(previous)

    def get_config(self):
        # `weights` is not saved: a saved model carries its weights.
        return {
            **super().get_config(),
            "num_ids": self.num_ids,
            "variant": self.variant,
            "input_shape": list(self.image_shape),
            "parts": self.parts,
            "depth": self.depth,
            "last_stride": self.last_stride,
            "reduction": self.reduction,
            "reverse_gradient": self.reverse_gradient,
            "erase": self.erase,
            "erase_threshold": self.erase_threshold,
            "reduce_dim": self.reduce_dim,
            "descriptor": self.descriptor,
            "label_smoothing": self.label_smoothing,
            "loss_weight_c": self.loss_weight_c,
            "loss_weight_d": self.loss_weight_d,
            "triplet_weight": self.triplet_weight,
            "triplet_margin": self.triplet_margin,
        }


def build_dranet(num_ids: int, *args, **kwargs) -> DRANet:
    """Build a DRANet; the other arguments are `DRANet`'s (variant, input_shape, parts, ...).

    Example:
        >>> model = build_dranet(num_ids=751, variant="dra", input_shape=(256, 128, 3))
        >>> model(keras.ops.zeros((1, 256, 128, 3))).shape
        (1, 2048)
    """
    return DRANet(num_ids, *args, **kwargs)
