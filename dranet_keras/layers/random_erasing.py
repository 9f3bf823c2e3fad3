"""Random erasing as re-id uses it (Zhong et al., AAAI 2020): one mean-filled rectangle.

`keras.layers.RandomErasing` is not this: it erases with a per-image `factor` and a fill of
noise or a constant in a value range, not torchreid's rectangle of area 2-40 % and aspect
0.3-3.3 filled with the ImageNet mean, which the re-id results are reported with.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# ImageNet channel means on the 0..255 scale our pipeline delivers (the model normalises).
IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)


@keras.saving.register_keras_serializable(package="dranet_keras")
class RandomErasing(layers.Layer):
    """With probability `probability`, fill one random rectangle of each image with `fill_value`.

    The rectangle's area is a uniform fraction of the image in `area_range` and its aspect
    ratio (height / width) uniform in `aspect_range`; of `attempts` draws the first that fits
    inside the image is used (no erasing if none fits), as in the reference implementation.
    Randomness is sampled (`get_random_transformation`) separately from the transform
    (`transform_images`), like Keras' preprocessing layers. Identity when `training=False`.

    Args:
        probability: chance that an image is erased.
        area_range: (min, max) erased fraction of the image area.
        aspect_range: (min, max) aspect ratio of the rectangle.
        fill_value: per-channel fill (default: ImageNet mean on the 0..255 scale).
        attempts: draws per image before giving up.
        seed: seed of the layer's random generator.

    Example:
        >>> layer = RandomErasing(probability=1.0, seed=0)
        >>> layer(keras.ops.zeros((2, 32, 16, 3)), training=True).shape
        (2, 32, 16, 3)
    """

    def __init__(
        self,
        probability: float = 0.5,
        area_range: tuple[float, float] = (0.02, 0.4),
        aspect_range: tuple[float, float] = (0.3, 1 / 0.3),
        fill_value: tuple[float, ...] = IMAGENET_MEAN_255,
        attempts: int = 10,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        if not 0.0 < area_range[0] <= area_range[1] <= 1.0 or not 0.0 < aspect_range[0] <= aspect_range[1]:
            raise ValueError(f"invalid area_range {area_range} or aspect_range {aspect_range}")
        self.probability = float(probability)
        self.area_range = tuple(float(a) for a in area_range)
        self.aspect_range = tuple(float(a) for a in aspect_range)
        self.fill_value = tuple(float(v) for v in fill_value)
        self.attempts = int(attempts)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_random_transformation(self, images, seed=None):
        """Draw one rectangle per image of a batch (B, H, W, C): a dict of (B,) tensors
        `apply` (bool) and `top`, `left`, `height`, `width` (int32)."""
        seed = seed if seed is not None else self.seed_generator
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        tries = (batch, self.attempts)
        area = keras.random.uniform(tries, *self.area_range, seed=seed) * ops.cast(height * width, "float32")
        aspect = keras.random.uniform(tries, *self.aspect_range, seed=seed)
        heights = ops.cast(ops.round(ops.sqrt(area * aspect)), "int32")
        widths = ops.cast(ops.round(ops.sqrt(area / aspect)), "int32")
        fits = (heights < height) & (widths < width)
        first = ops.expand_dims(ops.argmax(ops.cast(fits, "int32"), axis=1), 1)
        rect_h = ops.take_along_axis(heights, first, axis=1)[:, 0]
        rect_w = ops.take_along_axis(widths, first, axis=1)[:, 0]
        apply = (keras.random.uniform((batch,), seed=seed) < self.probability) & ops.any(fits, axis=1)
        # Uniform integer corners in [0, size - rect] (inclusive), as random.randint does.
        corner = keras.random.uniform((batch, 2), seed=seed)
        top = ops.cast(ops.floor(corner[:, 0] * ops.cast(height - rect_h + 1, "float32")), "int32")
        left = ops.cast(ops.floor(corner[:, 1] * ops.cast(width - rect_w + 1, "float32")), "int32")
        return {"apply": apply, "top": top, "left": left, "height": rect_h, "width": rect_w}

    def transform_images(self, images, transformation):
        """Fill each image's rectangle where `transformation["apply"]`; a pure function."""
        shape = ops.shape(images)
        rows = ops.reshape(ops.arange(shape[1], dtype="int32"), (1, -1, 1))
        cols = ops.reshape(ops.arange(shape[2], dtype="int32"), (1, 1, -1))

        def column(key):
            return ops.reshape(ops.cast(transformation[key], "int32"), (-1, 1, 1))

        top, left = column("top"), column("left")
        inside = (
            (rows >= top)
            & (rows < top + column("height"))
            & (cols >= left)
            & (cols < left + column("width"))
            & ops.reshape(transformation["apply"], (-1, 1, 1))
        )
        fill = ops.cast(ops.convert_to_tensor(self.fill_value), images.dtype)
        return ops.where(ops.expand_dims(inside, -1), fill, images)

    def call(self, inputs, training=True):
        if not training or self.probability == 0.0:
            return inputs
        batched = len(inputs.shape) == 4
        images = inputs if batched else ops.expand_dims(inputs, 0)
        erased = self.transform_images(images, self.get_random_transformation(images))
        return erased if batched else erased[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            probability=self.probability,
            area_range=self.area_range,
            aspect_range=self.aspect_range,
            fill_value=self.fill_value,
            attempts=self.attempts,
            seed=self.seed,
        )
        return config
