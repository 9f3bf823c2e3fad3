"""tf.data pipelines: sampling properties, label/image alignment, augmentation, determinism,
order, and corrupt images reported by path."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dranet_keras.data.errors import CorruptImageError
from dranet_keras.data.pipeline import apply_augmentation, eval_dataset, pk_indices, random_indices, train_dataset
from dranet_keras.data.records import Record

SIZE = (16, 8)


def coloured_records(tmp_path, counts: dict[int, int]) -> list[Record]:
    """PNG images filled with the value 10 * pid + 5 (lossless), `counts[pid]` of each."""
    records = []
    for pid, count in counts.items():
        for k in range(count):
            path = tmp_path / f"{pid:03d}_{k}.png"
            Image.fromarray(np.full((*SIZE, 3), 10 * pid + 5, np.uint8)).save(path)
            records.append(Record(str(path), pid, k % 2))
    return records


def test_pk_indices_batches_have_p_ids_times_k():
    labels = np.repeat(np.arange(6), [5, 5, 5, 5, 5, 2])  # id 5 has fewer than K=4 images
    order = pk_indices(labels, num_batches=3, batch_size=8, instances_per_id=4, rng=np.random.default_rng(0))
    seen = []
    for batch in order.reshape(3, 8):
        counts = Counter(labels[batch])
        assert sorted(counts.values()) == [4, 4]
        seen += list(counts)
        for pid in counts:  # distinct images whenever the identity has enough
            picked = batch[labels[batch] == pid]
            assert len(set(picked)) == (2 if pid == 5 else 4)
    assert sorted(seen) == list(range(6))  # 3 batches x 2 ids visit each of the 6 ids once
    with pytest.raises(ValueError, match="multiple of instances_per_id"):
        pk_indices(labels, 1, 6, 4, np.random.default_rng(0))


def test_random_indices_are_distinct():
    order = random_indices(10, 3, 3, np.random.default_rng(1))
    assert len(order) == 9 and len(set(order)) == 9 and order.max() < 10


def test_apply_augmentation_flip_and_crop():
    image = np.arange(4 * 3 * 1, dtype=np.float32).reshape(4, 3, 1) + 1
    out = apply_augmentation(tf.constant(image), {"flip": tf.constant(True), "offset": tf.constant([0, 2])}, pad=1).numpy()
    padded = np.pad(image[:, ::-1], ((1, 1), (1, 1), (0, 0)))
    np.testing.assert_array_equal(out, padded[0:4, 2:5])
    assert out[0, 0, 0] == 0 and out[1, 0, 0] == 2  # top row is padding; then the flipped row


def test_train_dataset_aligns_labels_and_counts(tmp_path):
    records = coloured_records(tmp_path, {1: 3, 2: 3, 3: 4})
    dataset = train_dataset(records, (32, 16), 4, flip=False, pad=0, random_erasing=0.0, seed=0)
    batches = list(dataset)
    assert len(batches) == 10 // 4 == int(dataset.cardinality())
    for inputs, labels in batches:
        assert inputs["images"].shape == (4, 32, 16, 3) and inputs["images"].dtype == tf.float32
        assert labels.dtype == tf.int32
        np.testing.assert_array_equal(inputs["labels"], labels)
        # Every image is its label's colour (resize of a flat image keeps the value).
        np.testing.assert_allclose(inputs["images"].numpy().mean(axis=(1, 2, 3)), 10 * labels.numpy() + 5, atol=1e-3)


def test_train_dataset_is_deterministic_and_reshuffles(tmp_path):
    records = coloured_records(tmp_path, {1: 4, 2: 4, 3: 4, 4: 4})

    def epochs(seed):
        dataset = train_dataset(records, SIZE, 8, sampler="pk", instances_per_id=2, seed=seed)
        return [[b[0]["images"].numpy() for b in dataset] for _ in range(2)]

    first, again = epochs(5), epochs(5)
    np.testing.assert_array_equal(np.array(first), np.array(again))
    assert not np.array_equal(first[0], first[1])  # the next epoch is a new draw
    erased = np.array(first[0])
    assert ((erased == 0).all(axis=-1)).any()  # padding shows after the random crop
    assert np.isclose(erased, 123.675).any()  # the erasing fill appears in some image


def test_eval_dataset_keeps_order(tmp_path):
    records = coloured_records(tmp_path, {3: 1, 1: 2, 2: 2})
    images = np.concatenate([b.numpy() for b in eval_dataset(records, SIZE, 2)])
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), [35, 15, 15, 25, 25])


def test_corrupt_and_missing_images_are_reported_by_path(tmp_path):
    records = coloured_records(tmp_path, {1: 2, 2: 2})
    broken = tmp_path / "999_0.jpg"
    broken.write_text("not an image")
    with_broken = records + [Record(str(broken), 2, 0)]
    with pytest.raises(tf.errors.InvalidArgumentError, match="999_0.jpg"):
        list(eval_dataset(with_broken, SIZE, 5))
    images = np.concatenate([b.numpy() for b in eval_dataset(with_broken, SIZE, 5, skip_corrupt=True)])
    assert images.shape[0] == 5 and (images[4] == 0).all()  # kept aligned, zero image
    # Batch size 1: every record is drawn once; the broken one is dropped.
    kept = list(train_dataset(with_broken, SIZE, 1, random_erasing=0.0, pad=0, skip_corrupt=True, seed=0))
    assert sorted(int(b[1][0]) for b in kept) == [1, 1, 2, 2]
    with pytest.raises(CorruptImageError, match="nowhere.png: image file not found"):
        train_dataset(records + [Record(str(tmp_path / "nowhere.png"), 1, 0)], SIZE, 2)


def test_an_epoch_depends_on_seed_and_epoch_only(tmp_path):
    """A resumed run (first_epoch=2) sees what an uninterrupted run sees in its third epoch:
    order, flip, crop and erasing."""
    records = coloured_records(tmp_path, {pid: 4 for pid in range(4)})
    options = {"flip": True, "pad": 4, "random_erasing": 1.0, "seed": 5}
    uninterrupted = train_dataset(records, SIZE, 4, **options)
    epochs = [[(x["images"].numpy(), y.numpy()) for x, y in uninterrupted] for _ in range(3)]
    resumed = [(x["images"].numpy(), y.numpy()) for x, y in train_dataset(records, SIZE, 4, first_epoch=2, **options)]
    for (images, labels), (expected_images, expected_labels) in zip(resumed, epochs[2], strict=True):
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(images, expected_images)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(epochs[0], epochs[2]))  # epochs differ
