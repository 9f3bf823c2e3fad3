"""ResNet backbone (14 to 152 layers deep, `choices.RESNET_BLOCKS`) with a configurable last stride.

Layer names and weight shapes are those of `keras.applications.ResNet50` (ResNet101 and
ResNet152 for those depths), so ImageNet weights transfer by name. We build the graph ourselves
(instead of calling keras.applications) only because keras.applications fixes the stride of the
last stage to 2; re-id uses 1 there (Luo et al., "Bag of Tricks", 2019) to double the
feature-map resolution. Depths 14 and 26 (timm's block counts) have no ImageNet weights.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

from dranet_keras.choices import DEPTHS, RESNET_BLOCKS
from dranet_keras.errors import UserError
from dranet_keras.layers.batch_normalization import FusedBatchNormalization
from dranet_keras.layers.normalization import BN_MOMENTUM

BN_EPSILON = 1.001e-5  # as keras.applications, so transferred statistics mean the same
STAGES = (("conv2", 64), ("conv3", 128), ("conv4", 256), ("conv5", 512))  # name, bottleneck width


class WeightsUnavailableError(UserError, RuntimeError):
    """ImageNet weights could not be downloaded or a weights file could not be read."""


@keras.saving.register_keras_serializable(package="dranet_keras")
class ImageNetNormalization(layers.Layer):
    """Raw RGB 0..255 -> the "caffe" input of keras.applications ResNet50 (BGR, mean-subtracted)."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype)
        bgr = keras.ops.flip(images, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=self.compute_dtype)


def batch_norm(name: str) -> FusedBatchNormalization:
    """BatchNormalization (fused on TensorFlow) with the re-id momentum and keras.applications' epsilon."""
    return FusedBatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _bottleneck(x, filters: int, stride: int, shortcut_conv: bool, name: str):
    if shortcut_conv:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = batch_norm(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = batch_norm(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = batch_norm(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = batch_norm(f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _resnet_graph(input_shape, depth: int, last_stride: int) -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="normalized_images")
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = batch_norm("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for (stage, filters), blocks in zip(STAGES, RESNET_BLOCKS[depth]):
        first_stride = {"conv2": 1, "conv5": last_stride}.get(stage, 2)
        for block in range(1, blocks + 1):
            x = _bottleneck(
                x,
                filters,
                stride=first_stride if block == 1 else 1,
                shortcut_conv=block == 1,
                name=f"{stage}_block{block}",
            )
    return keras.Model(inputs, x, name=f"resnet{depth}")


def _reference_resnet(input_shape, depth: int, weights) -> keras.Model:
    """keras.applications ResNet<depth> (no top) with `weights`, or a clear error offline."""
    application = getattr(keras.applications, f"ResNet{depth}", None)
    if application is None:
        available = [d for d in DEPTHS if hasattr(keras.applications, f"ResNet{d}")]
        raise WeightsUnavailableError(
            f"there are no {'ImageNet' if weights == 'imagenet' else 'keras.applications'} weights for a ResNet{depth} "
            f"(keras.applications has depths {available}): set model.weights to null or to a .weights.h5 file "
            f"saved from a depth-{depth} backbone"
        )
    try:
        return application(include_top=False, weights=weights, input_shape=input_shape)
    except Exception as error:  # keras raises bare Exception on URL failures
        if weights == "imagenet":
            raise WeightsUnavailableError(
                f"could not download the ImageNet ResNet{depth} weights "
                f"({type(error).__name__}: {error}). Without network access, download "
                f"resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and pass its path "
                "as weights=<path> (model.weights in params.yaml)."
            ) from None
        raise WeightsUnavailableError(
            f"could not load ResNet{depth} weights from {weights}: {error}. Expected a "
            f"keras.applications ResNet{depth} no-top .h5 file or a .weights.h5 file saved from "
            "dranet_keras.models.resnet."
        ) from None


def transfer_weights(source: keras.Model, target: keras.Model) -> int:
    """Copy weights layer by layer by name from `source` into `target`; returns layers copied."""
    copied = 0
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            source_layer = source.get_layer(layer.name)
        except ValueError:
            raise WeightsUnavailableError(f"source model has no layer named {layer.name!r}") from None
        layer.set_weights(source_layer.get_weights())
        copied += 1
    return copied


def resnet(input_shape=(256, 128, 3), depth: int = 50, last_stride: int = 1, weights=None) -> keras.Model:
    """ResNet feature extractor: normalised image -> (H/16 or H/32, ..., 2048) feature map.

    Args:
        input_shape: (height, width, 3) of the (already normalised) input.
        depth: layers, a key of `choices.RESNET_BLOCKS` (14, 26, 50, 101 or 152).
        last_stride: stride of the conv5 stage, 1 (re-id default) or 2 (as ImageNet).
        weights: None (random), "imagenet" (keras.applications download, copied by name), or a
            path: a keras.applications no-top ``.h5`` file, or a ``.weights.h5`` saved from this
            function's model.

    Example:
        >>> backbone = resnet((256, 128, 3), depth=50, last_stride=1)
        >>> backbone.output_shape
        (None, 16, 8, 2048)
    """
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {list(DEPTHS)}, got {depth!r}")
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
    model = _resnet_graph(tuple(input_shape), depth, last_stride)
    if weights is None:
        return model
    if weights != "imagenet":
        path = Path(weights)
        if not path.is_file():
            raise WeightsUnavailableError(f"weights file {path} does not exist")
        if path.name.endswith(".weights.h5"):
            try:
                model.load_weights(path)
            except Exception as error:
                raise WeightsUnavailableError(f"could not load weights from {path}: {error}") from None
            return model
        weights = str(path)
    transfer_weights(_reference_resnet(tuple(input_shape), depth, weights), model)
    return model


def resnet50(input_shape=(256, 128, 3), last_stride: int = 1, weights=None) -> keras.Model:
    """The paper's backbone: `resnet` of depth 50."""
    return resnet(input_shape, 50, last_stride, weights)
