"""DRANet: outputs and descriptor per variant (recomputed by hand), the loss formula, what CIC
learns on a toy feature map, gradient cuts at model level, saving, fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dranet_keras.models import DRANet, build_dranet
from tests.layers.test_spatial_reverse_attention import numpy_f_and_h, numpy_h

SHAPE = (64, 32, 3)  # feature map 4 x 2 with last_stride=1
NUM_IDS = 10
SMALL = {"input_shape": SHAPE, "depth": 14, "reduce_dim": 32, "reduction": 4}  # fast backbone and heads for semantics tests


def random_batch(size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(size, *SHAPE)).astype("float32")
    labels = np.arange(size) % NUM_IDS
    return images, labels


def numpy_b(model, a):
    """B = A * m per stripe (numpy.array_split heights), from the model's masks."""
    if model.channel_attention is None:
        return a
    masks = keras.ops.convert_to_numpy(model.channel_attention.masks(a))
    stripes = np.array_split(a, model.parts, axis=1)
    return np.concatenate([s * masks[:, p, None, None, :] for p, s in enumerate(stripes)], axis=1)


@pytest.mark.parametrize(
    "variant, heads, dim",
    [("baseline", {"b"}, 1024), ("cic", {"b", "c"}, 1024), ("sic", {"sic", "d"}, 2048), ("dra", {"sic", "c", "d"}, 2048)],
)
def test_outputs_per_variant(variant, heads, dim):
    images, labels = random_batch(4)
    model = build_dranet(NUM_IDS, variant, input_shape=SHAPE, depth=14)  # the heads are the test's subject
    assert model(images).shape == (4, dim) and model.embedding_dim == dim
    outputs = model({"images": images, "labels": labels}, training=True)
    assert set(outputs) == heads | {"features", "embedding"}
    assert all(outputs[key].shape == (4, NUM_IDS) for key in heads)
    assert outputs["features"].shape == (4, dim)
    inference = model({"images": images}, training=False)  # no labels needed, no RSAM head
    assert set(inference) == (heads - {"d"}) | {"features", "embedding"}


@pytest.mark.parametrize("variant", ["baseline", "cic", "sic", "dra"])
def test_raw_descriptor_recomputed_by_hand(variant):
    images, _ = random_batch(3)
    model = build_dranet(NUM_IDS, variant, parts=2, descriptor="raw", **SMALL)
    a = keras.ops.convert_to_numpy(model.feature_map(images))
    b = numpy_b(model, a)
    pooled = [b.mean(axis=(1, 2))]  # GAP(A) for baseline and sic (no CIC: B = A)
    if model.spatial_attention is not None:
        f, _ = numpy_f_and_h(model.spatial_attention, b)
        pooled.append(f.mean(axis=(1, 2)))
    expected = np.concatenate(pooled, axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)), expected, rtol=1e-4, atol=1e-5)


def test_bn_descriptor_standardises_with_training_statistics():
    images, labels = random_batch(8)
    model = build_dranet(NUM_IDS, "dra", **SMALL)
    for _ in range(3):  # training calls move the descriptor's running statistics
        model({"images": images, "labels": labels}, training=True)
    raw = keras.ops.convert_to_numpy(model({"images": images}, training=False)["features"])
    mean, variance = (keras.ops.convert_to_numpy(w) for w in model.descriptor_norm.non_trainable_weights)
    assert np.abs(mean).max() > 0  # the statistics did move
    expected = (raw - mean) / np.sqrt(variance + model.descriptor_norm.epsilon)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)), expected, rtol=1e-4, atol=1e-4)
    assert model.descriptor_norm.trainable_weights == []  # a standardisation, not a learnt layer


def _cosine_distances(x):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (1.0 - x @ x.T)[np.triu_indices(len(x), 1)]


def test_bn_descriptor_spreads_retrieval_distances():
    """Why "bn" is the default: pooled post-ReLU features are all >= 0 and share one mean
    direction, so cosine distances between any two images are tiny; standardising spreads them."""
    images, _ = random_batch(16, seed=3)
    model = build_dranet(NUM_IDS, "dra", **SMALL)
    raw = keras.ops.convert_to_numpy(model({"images": images}, training=False)["features"])
    for _ in range(60):  # the running statistics training would collect (momentum 0.9)
        model.describe(raw, training=True)
    standardised = keras.ops.convert_to_numpy(model.describe(raw))
    assert (raw >= 0).all()
    spread_raw, spread_bn = np.median(_cosine_distances(raw)), np.median(_cosine_distances(standardised))
    print(f"median cosine distance: raw {spread_raw:.3f}, bn {spread_bn:.3f}")
    assert spread_bn > 0.7 and spread_bn > 4 * spread_raw  # centred: about orthogonal on average (1.0)


def test_attention_maps_are_the_masks_and_the_normalised_class_map():
    images, labels = random_batch(2)
    model = build_dranet(NUM_IDS, "dra", **SMALL)
    maps = model.attention_maps(images, labels)
    a = keras.ops.convert_to_numpy(model.feature_map(images))
    np.testing.assert_allclose(maps["channel_masks"], keras.ops.convert_to_numpy(model.channel_attention.masks(a)), atol=1e-6)
    assert maps["channel_masks"].shape == (2, 3, 32)
    _, class_maps = numpy_f_and_h(model.spatial_attention, numpy_b(model, a))
    h = keras.ops.convert_to_numpy(maps["class_map"])
    assert h.shape == (2, 4, 2)
    np.testing.assert_allclose(h, numpy_h(class_maps, labels, 3), atol=1e-4)
    assert set(build_dranet(NUM_IDS, "baseline", **SMALL).attention_maps(images, labels)) == set()


def test_training_call_needs_labels_when_rsam_erases():
    images, _ = random_batch(2)
    with pytest.raises(ValueError, match="needs {'images': ..., 'labels': ...}"):
        build_dranet(NUM_IDS, "dra", **SMALL)(images, training=True)
    assert build_dranet(NUM_IDS, "cic", **SMALL)(images, training=True).shape == (2, 32)


def test_invalid_arguments():
    for kwargs, match in (
        ({"variant": "dual"}, "variant must be one of"),
        ({"descriptor": "pca"}, "descriptor must be one of"),
        ({"reverse_gradient": "half"}, "reverse_gradient must be one of"),
        ({"erase": "blur"}, "erase must be one of"),
    ):
        with pytest.raises(ValueError, match=match):
            build_dranet(NUM_IDS, **SMALL, **kwargs)
    with pytest.raises(ValueError, match="num_ids must be >= 2"):
        build_dranet(1, **SMALL)


def test_loss_is_sic_plus_weighted_c_and_d():
    model = build_dranet(NUM_IDS, "dra", label_smoothing=0.0, loss_weight_c=0.5, loss_weight_d=2.0, **SMALL)
    rng = np.random.default_rng(0)
    labels = np.array([1, 4, 7])
    logits = {key: rng.normal(size=(3, NUM_IDS)).astype("float32") for key in ("sic", "c", "d")}

    def ce(z):
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -log_p[np.arange(3), labels].mean()

    total = float(model.compute_loss(y=labels, y_pred={**logits, "features": np.zeros((3, 64), "float32")}))
    assert total == pytest.approx(ce(logits["sic"]) + 0.5 * ce(logits["c"]) + 2.0 * ce(logits["d"]), rel=1e-5)


def _head_gradients(model, a, labels, key, variables):
    with tf.GradientTape() as tape:
        logits = model.head_outputs(a, labels, training=True)[key]
        loss = keras.ops.mean(keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    sources = [v.value for v in variables]  # the tf.Variables: ZERO for unconnected needs a tf dtype
    return tape.gradient(loss, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def test_gradient_cuts_in_the_model():
    """C's loss reaches the SE weights only with reverse_gradient="through"; D's loss never
    reaches SIC's convolutions (h is a constant), but does reach the SE weights (through B)."""
    a = np.random.default_rng(1).uniform(0, 2, size=(4, 4, 2, 32)).astype("float32")
    labels = np.array([0, 1, 2, 3])
    for mode, c_reaches_masks in (("stop", False), ("through", True)):
        model = build_dranet(NUM_IDS, "dra", reverse_gradient=mode, **SMALL)
        se = model.channel_attention.trainable_weights
        c_grads = _head_gradients(model, a, labels, "c", se)
        assert all(np.any(g.numpy() != 0) for g in c_grads) == c_reaches_masks
        if not c_reaches_masks:
            assert all(np.all(g.numpy() == 0) for g in c_grads)
        d_to_sic = _head_gradients(model, a, labels, "d", model.spatial_attention.trainable_weights)
        assert all(np.all(g.numpy() == 0) for g in d_to_sic)
        assert any(np.any(g.numpy() != 0) for g in _head_gradients(model, a, labels, "d", se))


@pytest.mark.slow  # trains (10-25 s)
def test_cic_learns_which_channels_carry_the_identity():
    """A toy A (backbone bypassed): channels 0-7 carry the identity (each orders the 4 ids
    differently, plus noise), channels 8-31 are noise with the same distribution for every id.
    Training the DRANet head on fresh batches (so noise cannot be memorised) must raise m on
    the informative channels and lower it on the noise ones."""
    keras.utils.set_random_seed(0)
    num_ids, channels, informative = 4, 32, 8
    # The backbone is bypassed, but it draws the first initial weights from the seed: on a
    # ResNet14 the heads start elsewhere and one noise channel ends above one informative.
    model = build_dranet(num_ids, "dra", **{**SMALL, "depth": 50})
    rng = np.random.default_rng(0)
    levels = np.stack([rng.permutation(num_ids) for _ in range(informative)], axis=1) / (num_ids - 1)

    def toy_batch(n):
        labels = rng.integers(0, num_ids, n)
        a = rng.uniform(0, 3, size=(n, 4, 2, channels))
        a[..., :informative] = np.maximum(levels[labels][:, None, None, :] + rng.normal(0, 1.0, (n, 4, 2, informative)), 0)
        return a.astype("float32"), labels

    probe, _ = toy_batch(256)

    def channel_means():
        return keras.ops.convert_to_numpy(model.channel_attention.masks(probe)).mean(axis=(0, 1))

    variables = model.channel_attention.trainable_weights + model.spatial_attention.trainable_weights
    variables += [w for head in model.heads.values() for w in head.trainable_weights]
    optimizer = keras.optimizers.Adam(1e-2)
    before = channel_means()
    for _ in range(120):
        a, labels = toy_batch(64)
        with tf.GradientTape() as tape:
            loss = model.compute_loss(y=labels, y_pred=model.head_outputs(a, labels, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    after = channel_means()
    print(f"m before: informative {before[:informative].mean():.3f}, noise {before[informative:].mean():.3f}; "
          f"after: informative {after[:informative].mean():.3f} (min {after[:informative].min():.3f}), "
          f"noise {after[informative:].mean():.3f} (max {after[informative:].max():.3f})")
    assert abs(before[:informative].mean() - before[informative:].mean()) < 0.1  # no head start
    assert after[:informative].mean() - after[informative:].mean() > 0.4
    assert after[:informative].min() > after[informative:].max()  # every informative above every noise channel


def mixed_precision_dra() -> DRANet:
    """A small dra built under mixed_bfloat16 (the global policy restored after)."""
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        return build_dranet(NUM_IDS, "dra", **SMALL)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def test_mixed_bfloat16_keeps_logits_and_maps_float32():
    images, labels = random_batch(2)
    model = mixed_precision_dra()
    outputs = model({"images": images, "labels": labels}, training=True)
    assert all(keras.backend.standardize_dtype(outputs[key].dtype) == "float32" for key in ("sic", "c", "d"))
    assert model.spatial_attention.conv1x1.compute_dtype == "float32"  # SIC's classifier, as the heads'
    maps = model.attention_maps(images, labels)
    assert all(keras.backend.standardize_dtype(value.dtype) == "float32" for value in maps.values())


def test_a_mixed_precision_model_reloads_in_its_policy_under_a_float32_process(tmp_path):
    images, _ = random_batch(2)
    model = mixed_precision_dra()
    model.save(tmp_path / "mixed.keras")
    reloaded = keras.saving.load_model(tmp_path / "mixed.keras")  # this process: float32
    assert keras.mixed_precision.dtype_policy().name == "float32"
    for name in ("backbone", "reduce_conv", "spatial_attention", "channel_attention"):
        assert getattr(reloaded, name).dtype_policy.name == getattr(model, name).dtype_policy.name == "mixed_bfloat16", name
    assert reloaded.backbone.get_layer("conv1_conv").compute_dtype == "bfloat16"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(images)), keras.ops.convert_to_numpy(model(images)))


def test_keras_file_round_trip_in_safe_mode_gives_identical_embeddings(tmp_path):
    images, labels = random_batch(3)
    model = build_dranet(NUM_IDS, "dra", input_shape=SHAPE, erase="hard", reverse_gradient="through", triplet_weight=0.5)
    model({"images": images, "labels": labels}, training=True)  # non-trivial descriptor statistics
    path = tmp_path / "dra.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded, DRANet)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(images)), keras.ops.convert_to_numpy(model(images)))


def test_a_depth_14_model_reloads_as_depth_14(tmp_path):
    from dranet_keras.models.loading import load_dranet

    images, _ = random_batch(2)
    model = build_dranet(NUM_IDS, "baseline", **{**SMALL, "depth": 14})
    model.save(tmp_path / "small.keras")
    reloaded = load_dranet(tmp_path / "small.keras")
    assert reloaded.depth == 14 and reloaded.backbone.name == "resnet14"
    assert len(reloaded.backbone.layers) == len(model.backbone.layers)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(images)), keras.ops.convert_to_numpy(model(images)))


@pytest.mark.slow
def test_fit_runs_and_memorises_a_fixed_batch():
    """compile(optimizer) + fit works with the model's own loss, and the loss falls on a batch it can memorise.
    Traced, as `dranet train` runs by default: the subprocess training tests run eagerly. A
    ResNet14 backbone: the test is of the model's loss and fit, not of the ResNet50."""
    keras.utils.set_random_seed(0)
    images, labels = random_batch(8)
    model = build_dranet(NUM_IDS, "dra", input_shape=SHAPE, depth=14, label_smoothing=0.0, triplet_weight=1.0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    batch = tf.data.Dataset.from_tensors(({"images": images, "labels": labels}, labels)).repeat()
    # shuffle=False: Keras ignores its default shuffle=True for a Dataset and warns about it
    history = model.fit(batch, epochs=20, steps_per_epoch=1, verbose=0, shuffle=False).history
    losses = np.array(history["loss"])
    assert np.isfinite(losses).all()
    assert set(history) >= {"loss", "ce_sic", "ce_c", "ce_d", "triplet", "accuracy"}
    assert losses[-3:].mean() < 0.2 * losses[:2].mean()
    # the total is the sum of the head losses (weights 1) and the triplet term
    np.testing.assert_allclose(
        losses[-1], history["ce_sic"][-1] + history["ce_c"][-1] + history["ce_d"][-1] + history["triplet"][-1], rtol=1e-4
    )
    assert history["accuracy"][-1] == 1.0


@pytest.mark.slow
def test_fused_batch_normalization_trains_as_keras_own(monkeypatch):
    """A few SGD steps of DRANet `fit`: the fused BatchNormalization (every 4-D BN of the model)
    trains as Keras' BatchNormalization. The first loss (the forward pass, in training mode,
    through every BN) agrees to 1e-4 (float32 round-off over 53 layers; a biased-vs-unbiased
    variance mix-up alone would move it ~1e-2). Later losses cannot be compared to a fixed tolerance: a
    from-scratch ResNet50 on a batch of 8 random images is chaotic (a 1e-6 relative change of
    the pixels moves the second loss by ~1 in 8). So Keras' own BN is run twice, on the images
    and on the images scaled by 1 + 1e-6, and the fused run must stay within that envelope
    widened by its own width on each side. (48x16 images: 3 feature rows, one per stripe.)"""
    from dranet_keras.layers import batch_normalization

    def losses(scale=1.0):
        keras.utils.set_random_seed(0)
        images, labels = random_batch(8)
        images = images[:, :48, :16]
        model = build_dranet(NUM_IDS, "dra", input_shape=(48, 16, 3), label_smoothing=0.0)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
        batch = tf.data.Dataset.from_tensors(({"images": images * scale, "labels": labels}, labels)).repeat()
        return np.array(model.fit(batch, epochs=3, steps_per_epoch=1, verbose=0, shuffle=False).history["loss"])

    fused = losses()
    monkeypatch.setattr(batch_normalization, "fused_kernel_applies", lambda layer, inputs, mask: False)
    keras_runs = np.array([losses(scale) for scale in (1.0, 1 + 1e-6)])
    np.testing.assert_allclose(fused[0], keras_runs[0, 0], rtol=1e-4)
    low, high = keras_runs.min(axis=0), keras_runs.max(axis=0)
    width = high - low
    assert np.all((fused >= low - width - 1e-3 * high) & (fused <= high + width + 1e-3 * high)), (fused, keras_runs)
    assert np.ptp(fused) > 0.01  # it trained: the comparison is not of constants
