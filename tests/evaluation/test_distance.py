"""compute_distance against hand-worked values."""

import numpy as np
import pytest

from dranet_keras.errors import UserError
from dranet_keras.evaluation.distance import compute_distance


def test_cosine_hand_worked():
    # q0 = (1, 0); gallery (2, 0) same direction, (0, 3) orthogonal, (-1, 0) opposite, (1, 1) at 45°.
    query = np.array([[1.0, 0.0]])
    gallery = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [1.0, 1.0]])
    expected = [[0.0, 1.0, 2.0, 1 - np.sqrt(0.5)]]
    np.testing.assert_allclose(compute_distance(query, gallery, "cosine"), expected, atol=1e-6)


def test_euclidean_hand_worked():
    query = np.array([[0.0, 0.0], [1.0, 1.0]])
    gallery = np.array([[3.0, 4.0], [1.0, 1.0]])
    expected = [[5.0, np.sqrt(2.0)], [np.sqrt(13.0), 0.0]]
    result = compute_distance(query, gallery, "euclidean")
    assert result.dtype == np.float32 and result.shape == (2, 2)
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_zero_feature_does_not_give_nan():
    result = compute_distance(np.zeros((1, 3)), np.ones((2, 3)), "cosine")
    np.testing.assert_allclose(result, [[1.0, 1.0]])


@pytest.mark.parametrize(
    "query, gallery, metric, message",
    [
        (np.ones((2, 3)), np.ones((2, 4)), "cosine", "expected \\(N, D\\)"),
        (np.ones((2, 3)), np.ones((2, 3)), "manhattan", "not one of"),
    ],
)
def test_bad_input(query, gallery, metric, message):
    with pytest.raises(UserError, match=message):
        compute_distance(query, gallery, metric)
