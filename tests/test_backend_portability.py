"""Backend portability: the layers and losses use keras.ops only, so their tests pass under JAX.

The `*_matches_numpy` checks below run under whatever backend the suite uses (TensorFlow by
default), each against a NumPy reference written here. `test_layer_and_loss_tests_pass_on_jax`
re-runs them, together with the layer and loss test files, in a fresh interpreter with
`KERAS_BACKEND=jax`. `make test` installs the `jax` extra and sets DRANET_REQUIRE_JAX=1, so CI
fails (instead of skipping) when jax is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from dranet_keras.layers import ChannelReverseAttention, SpatialReverseAttention
from dranet_keras.losses import batch_hard_triplet, cross_entropy

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
PORTABLE_TESTS = (
    "tests/layers/test_batch_normalization.py",
    "tests/layers/test_channel_reverse_attention.py",
    "tests/layers/test_spatial_reverse_attention.py",
    "tests/layers/test_random_erasing.py",
    "tests/test_losses.py",
    THIS,
)
NOT_ON_JAX = (
    f"{THIS}::test_layer_and_loss_tests_pass_on_jax",  # this test itself
    # Calls the layer inside tf.data, which traces TensorFlow tensors; under JAX only layers
    # derived from keras.layers.TFDataLayer switch backends there. The pipeline is TF anyway.
    "tests/layers/test_random_erasing.py::test_runs_inside_tf_data",
)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_channel_reverse_attention_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 5, 3, 8)).astype("float32")
    layer = ChannelReverseAttention(reduction=4, parts=2)
    b, c = (keras.ops.convert_to_numpy(t) for t in layer(x))
    for part, (start, stop) in enumerate([(0, 3), (3, 5)]):  # array_split heights 3, 2
        w1, b1 = (keras.ops.convert_to_numpy(v) for v in layer.squeeze[part].weights)
        w2, b2 = (keras.ops.convert_to_numpy(v) for v in layer.excite[part].weights)
        stripe = x[:, start:stop]
        mask = sigmoid(np.maximum(stripe.mean(axis=(1, 2)) @ w1 + b1, 0) @ w2 + b2)[:, None, None, :]
        np.testing.assert_allclose(b[:, start:stop], stripe * mask, atol=1e-5)
        np.testing.assert_allclose(c[:, start:stop], stripe * (1 - mask), atol=1e-5)


def test_spatial_reverse_attention_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(2, 4, 3, 6)).astype("float32")
    labels = np.array([4, 1])
    layer = SpatialReverseAttention(num_ids=5, parts=2, erase="soft")
    features, class_maps, erased = (keras.ops.convert_to_numpy(t) for t in layer(x, labels=labels, training=True))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.conv1x1.weights)
    np.testing.assert_allclose(class_maps, features @ kernel[0, 0] + bias, atol=1e-5)
    chosen = class_maps[np.arange(2), :, :, labels]
    expected = x.copy()
    for start, stop in [(0, 2), (2, 4)]:
        stripe = chosen[:, start:stop]
        low = stripe.min(axis=(1, 2), keepdims=True)
        high = stripe.max(axis=(1, 2), keepdims=True)
        expected[:, start:stop] *= (1 - (stripe - low) / (high - low))[..., None]
    np.testing.assert_allclose(erased, expected, atol=1e-5)
    assert len(layer(x, training=False)) == 2  # inference: F and H, no labels needed


def test_losses_match_numpy():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], "float32")
    labels = np.array([0, 1])
    eps = 0.1
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets = (1 - eps) * np.eye(3)[labels] + eps / 3
    expected = -(targets * log_p).sum(axis=1).mean()
    assert float(cross_entropy(labels, logits, eps)) == pytest.approx(expected, rel=1e-5)

    # 1-D points: ids 0 at 0 and 1, ids 1 at 3 and 6. Hardest positive / negative distances
    # per anchor: (1, 3), (1, 2), (3, 2), (3, 5) -> hinge with margin 0.5: 0, 0, 1.5, 0.
    features = np.array([[0.0], [1.0], [3.0], [6.0]], "float32")
    pids = np.array([0, 0, 1, 1])
    assert float(batch_hard_triplet(pids, features, margin=0.5)) == pytest.approx(1.5 / 4, abs=1e-4)


@pytest.mark.slow  # a second interpreter that imports JAX and TensorFlow and re-runs the layer tests
def test_layer_and_loss_tests_pass_on_jax():
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("DRANET_REQUIRE_JAX") == "1":
            pytest.fail("jax is not installed: `pip install -e '.[jax]'` (make install does)")
        pytest.skip("jax is not installed (pip install -e '.[jax]')")
    files = list(PORTABLE_TESTS)
    assert all((ROOT / path).is_file() for path in files), "a portable test file moved: update PORTABLE_TESTS"
    deselect = [argument for test in NOT_ON_JAX for argument in ("--deselect", test)]
    script = (
        "import sys, keras, pytest\n"
        "assert keras.backend.backend() == 'jax', keras.backend.backend()\n"
        f"sys.exit(pytest.main({files + ['-q', '-p', 'no:cacheprovider', *deselect]!r}))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"KERAS_BACKEND=jax: {files}: {summary}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary
