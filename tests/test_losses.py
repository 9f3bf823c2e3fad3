import math

import numpy as np
import pytest
from keras import ops

from dranet_keras.losses import batch_hard_triplet, cross_entropy


def test_cross_entropy_matches_hand_computed_value():
    # softmax([0, ln 3]) = [1/4, 3/4]
    logits = np.array([[0.0, math.log(3.0)]], "float32")
    assert float(cross_entropy(np.array([1]), logits)) == pytest.approx(-math.log(0.75), rel=1e-6)
    assert float(cross_entropy(np.array([0]), logits)) == pytest.approx(-math.log(0.25), rel=1e-6)


def test_label_smoothing_spreads_eps_over_all_classes():
    logits = np.array([[0.0, math.log(3.0)]], "float32")
    # eps = 0.2, K = 2: targets [0.1, 0.9]
    expected = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    assert float(cross_entropy(np.array([1]), logits, label_smoothing=0.2)) == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_is_a_batch_mean():
    logits = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]], "float32")
    first = math.log(3.0)
    second = -math.log(math.exp(10.0) / (math.exp(10.0) + 2.0))
    assert float(cross_entropy(np.array([2, 0]), logits)) == pytest.approx((first + second) / 2, rel=1e-5)


POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]], "float32")
LABELS = np.array([0, 0, 1, 1])


@pytest.mark.parametrize(
    "margin, expected",
    [
        # anchors: d(hardest pos) - d(hardest neg) + margin, clipped at 0
        # a0: 1 - 3, a1: 1 - 2, a2: 4 - 2, a3: 4 - 6
        (0.3, (0.0 + 0.0 + 2.3 + 0.0) / 4),
        (5.0, (3.0 + 4.0 + 7.0 + 3.0) / 4),
    ],
)
def test_batch_hard_triplet_matches_hand_computed_value(margin, expected):
    assert float(batch_hard_triplet(LABELS, POINTS, margin=margin)) == pytest.approx(expected, rel=1e-5)


def test_batch_hard_triplet_without_negatives_is_zero():
    assert float(batch_hard_triplet(np.array([4, 4, 4]), POINTS[:3], margin=0.3)) == 0.0


def test_batch_hard_triplet_is_finite_for_identical_points():
    import tensorflow as tf

    features = tf.Variable(np.ones((4, 3), "float32"))
    with tf.GradientTape() as tape:
        loss = batch_hard_triplet(LABELS, features, margin=0.3)
    gradient = tape.gradient(loss, features)
    assert float(loss) == pytest.approx(0.3, abs=1e-4)
    assert np.isfinite(ops.convert_to_numpy(gradient)).all()
