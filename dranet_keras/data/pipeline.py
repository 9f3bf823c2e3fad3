"""tf.data input pipelines: decode, resize, flip, pad + crop, RandomErasing, PK sampling.

Images leave the pipeline as float32 raw RGB 0..255; ImageNet normalisation happens inside
the model. Which records make up an epoch, and the per-image augmentation seeds, are drawn in
numpy from one generator (so a seed makes the whole input deterministic, independent of how
many map calls run in parallel); the transforms are stateless functions of those draws.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Sequence

import numpy as np
import tensorflow as tf

from dranet_keras.choices import SAMPLERS
from dranet_keras.data.errors import CorruptImageError
from dranet_keras.data.images import SIGNATURES
from dranet_keras.data.records import Record
from dranet_keras.layers.random_erasing import RandomErasing


def random_indices(num_records: int, num_batches: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """One epoch of plain shuffled batches: (num_batches * batch_size,) distinct indices."""
    return rng.permutation(num_records)[: num_batches * batch_size]


def pk_indices(labels: Sequence[int], num_batches: int, batch_size: int, instances_per_id: int, rng: np.random.Generator) -> np.ndarray:
    """One epoch of PK batches: each batch has P = batch_size / K distinct identities with K
    images each. Identities are visited in shuffled order (reshuffled when fewer than P are
    left); one with fewer than K images is sampled with replacement."""
    if instances_per_id < 1 or batch_size % instances_per_id:
        raise ValueError(f"batch_size {batch_size} must be a multiple of instances_per_id {instances_per_id}")
    labels = np.asarray(labels)
    ids = np.unique(labels)
    per_batch = batch_size // instances_per_id
    if len(ids) < per_batch:
        raise ValueError(f"PK sampling needs >= {per_batch} identities per batch, the records have {len(ids)}")
    members = {pid: np.flatnonzero(labels == pid) for pid in ids}
    queue: list = []
    batches = []
    for _ in range(num_batches):
        if len(queue) < per_batch:
            queue = list(rng.permutation(ids))
        chosen, queue = queue[:per_batch], queue[per_batch:]
        for pid in chosen:
            pool = members[pid]
            batches.append(rng.choice(pool, instances_per_id, replace=len(pool) < instances_per_id))
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)


def _present(records: Sequence[Record], skip_corrupt: bool) -> list[Record]:
    """Records whose file exists; a missing file is an error (or, with `skip_corrupt`, a warning)."""
    missing = [r.path for r in records if not os.path.isfile(r.path)]
    if missing and not skip_corrupt:
        raise CorruptImageError(f"{missing[0]}: image file not found ({len(missing)} missing in all)")
    for path in missing:
        warnings.warn(f"skipping missing image {path}", stacklevel=3)
    return [r for r in records if r.path not in set(missing)] if missing else list(records)


def _looks_like_image(contents: tf.Tensor) -> tf.Tensor:
    return tf.reduce_any([tf.strings.substr(contents, 0, len(s)) == s for s in SIGNATURES])


def load_image(path: tf.Tensor, image_size: tuple[int, int], skip_corrupt: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """(image float32 (h, w, 3) 0..255, ok) for the file at `path`.

    A file that is not a JPEG/PNG/BMP/GIF fails with an error naming `path` (TensorFlow's own
    decode error does not name it); with `skip_corrupt` it prints a warning and `ok` is False.
    """
    contents = tf.io.read_file(path)
    ok = _looks_like_image(contents)
    if skip_corrupt:
        tf.cond(ok, tf.no_op, lambda: tf.print("warning: skipping corrupt image", path, output_stream=sys.stderr))
    else:
        check = tf.debugging.Assert(ok, ["corrupt or unreadable image (expected JPEG/PNG/BMP/GIF):", path])
        with tf.control_dependencies([check]):
            contents = tf.identity(contents)

    def decode():
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        return tf.image.resize(tf.cast(image, tf.float32), image_size)

    image = tf.cond(ok, decode, lambda: tf.zeros((*image_size, 3), tf.float32))
    return tf.ensure_shape(image, (*image_size, 3)), ok


def sample_augmentation(seed: tf.Tensor, flip: bool, pad: int) -> dict:
    """Draw an image's augmentation from its (2,) seed: {"flip": bool, "offset": (2,) int32}."""
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    return {
        "flip": tf.logical_and(flip, tf.random.stateless_uniform([], flip_seed) < 0.5),
        "offset": tf.random.stateless_uniform([2], crop_seed, 0, 2 * pad + 1, dtype=tf.int32),
    }


def apply_augmentation(image: tf.Tensor, augmentation: dict, pad: int) -> tf.Tensor:
    """Flip horizontally if asked, then zero-pad by `pad` and crop back at `offset`."""
    image = tf.cond(augmentation["flip"], lambda: tf.reverse(image, axis=[1]), lambda: image)
    if pad:
        shape = tf.shape(image)
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.slice(padded, [augmentation["offset"][0], augmentation["offset"][1], 0], shape)
    return image


def train_dataset(
    records: Sequence[Record],
    image_size: tuple[int, int],
    batch_size: int,
    *,
    sampler: str = "random",
    instances_per_id: int = 4,
    flip: bool = True,
    pad: int = 10,
    random_erasing: float = 0.5,
    seed: int | None = None,
    skip_corrupt: bool = False,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """One epoch (`len(records) // batch_size` batches; iterate again for the next epoch) of
    `({"images": (B, h, w, 3) float32 0..255, "labels": (B,) int32}, labels)`.

    `sampler`: "random" (shuffled, each record at most once) or "pk" (see `pk_indices`).
    The n-th iteration is epoch `first_epoch + n`, whose batches and augmentations depend on
    (`seed`, epoch) only: a run resumed at epoch k (`first_epoch=k`) sees the data an
    uninterrupted run sees there. `seed=None`: fresh randomness. With `skip_corrupt`,
    missing and undecodable images are skipped with a warning (an epoch may then be one batch
    shorter); otherwise they raise an error naming the file.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r}: expected one of {list(SAMPLERS)}")
    records = _present(records, skip_corrupt)
    num_batches = len(records) // batch_size
    if num_batches == 0:
        raise ValueError(f"{len(records)} training records give no batch of {batch_size}")
    paths = tf.constant([r.path for r in records])
    labels = np.array([r.pid for r in records], dtype=np.int32)
    epochs_started = [0]  # tf.data calls `epoch` once per iteration, in order

    def epoch():
        rng = np.random.default_rng(None if seed is None else [seed, first_epoch + epochs_started[0]])
        epochs_started[0] += 1
        if sampler == "pk":
            order = pk_indices(labels, num_batches, batch_size, instances_per_id, rng)
        else:
            order = random_indices(len(records), num_batches, batch_size, rng)
        seeds = rng.integers(0, 2**31 - 1, size=(len(order), 2, 2))  # (flip and crop, erasing) per image
        yield from zip(order, seeds)

    def load(index, element_seeds):
        image, ok = load_image(tf.gather(paths, index), image_size, skip_corrupt)
        image = apply_augmentation(image, sample_augmentation(element_seeds[0], flip, pad), pad)
        return image, tf.gather(labels, index), element_seeds[1], ok

    erasing = RandomErasing(random_erasing)
    dataset = tf.data.Dataset.from_generator(
        epoch,
        output_signature=(tf.TensorSpec((), tf.int64), tf.TensorSpec((2, 2), tf.int64)),
    )
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if skip_corrupt:
        dataset = dataset.filter(lambda image, label, erasing_seed, ok: ok)
    dataset = dataset.batch(batch_size, drop_remainder=True)

    def finish(images, batch_labels, erasing_seeds, ok):
        if random_erasing > 0:
            # The layer draws from its stateful seed generator: set its state from the batch's
            # first draw, so that the erasing depends on (seed, epoch) and not on the batches
            # this process happened to erase before (a resumed run starts afresh).
            state = erasing.seed_generator.state
            state.assign(tf.cast(erasing_seeds[0], state.dtype))
            images = erasing(images, training=True)
        return {"images": images, "labels": batch_labels}, batch_labels

    dataset = dataset.map(finish)  # sequential: it sets the erasing layer's seed state
    if not skip_corrupt:  # a known length lets Keras show progress and end epochs cleanly
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(
    records: Sequence[Record],
    image_size: tuple[int, int],
    batch_size: int,
    *,
    skip_corrupt: bool = False,
) -> tf.data.Dataset:
    """Batches of images (B, h, w, 3) float32 0..255 in record order, nothing else.

    With `skip_corrupt`, an undecodable image becomes an all-zero image (with a warning) so
    that features stay aligned with `records`; a missing file is always an error here.
    """
    records = _present(records, skip_corrupt=False)
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant([r.path for r in records]))
    dataset = dataset.map(
        lambda path: load_image(path, image_size, skip_corrupt)[0],
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
