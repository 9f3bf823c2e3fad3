import keras
import numpy as np
import pytest
import tensorflow as tf

from dranet_keras.models import DRANet, build_dranet

SHAPE = (64, 32, 3)  # feature map 4 x 2 with last_stride=1
NUM_IDS = 10


def random_batch(size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(size, *SHAPE)).astype("float32")
    labels = np.arange(size) % NUM_IDS
    return images, labels


@pytest.mark.parametrize(
    "variant, branches, dim",
    [("baseline", {"b"}, 1024), ("cic", {"b", "c"}, 2048), ("sic", {"b", "s"}, 2048), ("dra", {"b", "c", "s"}, 2048)],
)
def test_outputs_per_variant(variant, branches, dim):
    images, labels = random_batch(4)
    model = build_dranet(NUM_IDS, variant, input_shape=SHAPE)
    assert model(images).shape == (4, dim)
    outputs = model({"images": images, "labels": labels}, training=True)
    assert set(outputs) == branches | {"features"}
    assert all(outputs[branch].shape == (4, NUM_IDS) for branch in branches)
    assert outputs["features"].shape == (4, 1024)


def test_inference_embedding_is_base_and_attended_pools():
    images, _ = random_batch(3)
    model = build_dranet(NUM_IDS, "dra", input_shape=SHAPE, parts=2)
    x = keras.ops.convert_to_numpy(model.feature_map(images))
    masks = keras.ops.convert_to_numpy(model.channel_attention.masks(x))  # (3, 2, 1024)
    stripes = np.array_split(x, 2, axis=1)
    attended = np.concatenate([s * m[:, None, None, :] for s, m in zip(stripes, masks.transpose(1, 0, 2))], axis=1)
    expected = np.concatenate([x.mean(axis=(1, 2)), attended.mean(axis=(1, 2))], axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)), expected, rtol=1e-4, atol=1e-5)


def test_attention_maps_for_inspection():
    images, labels = random_batch(2)
    maps = build_dranet(NUM_IDS, "dra", input_shape=SHAPE).attention_maps(images, labels)
    assert maps["channel_masks"].shape == (2, 3, 1024)
    erase = keras.ops.convert_to_numpy(maps["erase_mask"])
    assert erase.shape == (2, 4, 2) and set(np.unique(erase)) <= {0.0, 1.0}


def test_training_call_needs_labels():
    images, _ = random_batch(2)
    with pytest.raises(ValueError, match="needs {'images': ..., 'labels': ...}"):
        build_dranet(NUM_IDS, "dra", input_shape=SHAPE)(images, training=True)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="variant must be one of"):
        build_dranet(NUM_IDS, "dual", input_shape=SHAPE)
    with pytest.raises(ValueError, match="num_ids must be >= 2"):
        build_dranet(1, input_shape=SHAPE)


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    images, _ = random_batch(3)
    model = build_dranet(NUM_IDS, "dra", input_shape=SHAPE, label_smoothing=0.1, triplet_weight=0.5)
    path = tmp_path / "dra.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded, DRANet)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(images)), keras.ops.convert_to_numpy(model(images)))


@pytest.mark.slow
def test_fit_runs_and_memorises_a_fixed_batch():
    """compile(optimizer) + fit works with the model's own loss, and the loss falls on a batch it can memorise."""
    keras.utils.set_random_seed(0)
    images, labels = random_batch(8)
    model = build_dranet(NUM_IDS, "dra", input_shape=SHAPE, triplet_weight=1.0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    batch = tf.data.Dataset.from_tensors(({"images": images, "labels": labels}, labels)).repeat()
    history = model.fit(batch, epochs=20, steps_per_epoch=1, verbose=0).history
    losses = np.array(history["loss"])
    assert np.isfinite(losses).all()
    assert set(history) >= {"loss", "ce_b", "ce_c", "ce_s", "triplet", "accuracy"}
    assert losses[-3:].mean() < 0.2 * losses[:2].mean()
    # the total is the sum of the branch losses (weights 1) and the triplet term
    np.testing.assert_allclose(
        losses[-1], history["ce_b"][-1] + history["ce_c"][-1] + history["ce_s"][-1] + history["triplet"][-1], rtol=1e-4
    )
    assert history["accuracy"][-1] == 1.0
