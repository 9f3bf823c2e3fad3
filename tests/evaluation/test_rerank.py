"""re_rank against the standard dense numpy implementation of k-reciprocal re-ranking
(Zhong et al. 2017), written out here straightforwardly as the independent expectation."""

import numpy as np
import pytest

from dranet_keras.evaluation import re_rank
from dranet_keras.evaluation.rerank import ReRankError, _query_chunks


def standard_re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3, sort_kind=None):
    """The authors' algorithm with dense (Q+G) x (Q+G) arrays and per-image Python loops.
    `sort_kind=None` is numpy's default (unstable) argsort, as in the original; "stable" ranks
    exactly equal distances by index, as `re_rank` does."""
    original = np.concatenate(
        [np.concatenate([q_q_dist, q_g_dist], axis=1), np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0
    )
    original = np.power(original, 2).astype(np.float32)
    original = np.transpose(1.0 * original / np.max(original, axis=0))
    num_q = q_g_dist.shape[0]
    size = original.shape[0]
    V = np.zeros_like(original, dtype=np.float32)
    initial_rank = np.argsort(original, kind=sort_kind).astype(np.int32)
    half = int(np.around(k1 / 2.0)) + 1

    def reciprocal(i, k):
        forward = initial_rank[i, :k]
        backward = initial_rank[forward, :k]
        return forward[np.where(backward == i)[0]]

    for i in range(size):
        k_reciprocal = reciprocal(i, k1 + 1)
        expansion = k_reciprocal
        for candidate in k_reciprocal:
            candidate_set = reciprocal(candidate, half)
            if len(np.intersect1d(candidate_set, k_reciprocal)) > 2.0 / 3 * len(candidate_set):
                expansion = np.append(expansion, candidate_set)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        V[i, expansion] = weight / np.sum(weight)
    original = original[:num_q]
    if k2 != 1:
        V = np.stack([np.mean(V[initial_rank[i, :k2], :], axis=0) for i in range(size)])
    inverted_index = [np.where(V[:, j] != 0)[0] for j in range(size)]
    jaccard = np.zeros_like(original, dtype=np.float32)
    for i in range(num_q):
        shared = np.zeros(size, dtype=np.float32)
        for j in np.where(V[i, :] != 0)[0]:
            images = inverted_index[j]
            shared[images] += np.minimum(V[i, j], V[images, j])
        jaccard[i] = 1 - shared / (2.0 - shared)
    final = jaccard * (1 - lambda_value) + original * lambda_value
    return final[:, num_q:]


def distances(a, b):
    """Euclidean distances, as re-id code feeds re-ranking."""
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0))


def random_case(seed, num_q, num_g, dim=8, num_ids=6, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids, dim))
    q = centres[rng.integers(0, num_ids, num_q)] + 0.5 * rng.normal(size=(num_q, dim))
    g = centres[rng.integers(0, num_ids, num_g)] + 0.5 * rng.normal(size=(num_g, dim))
    q, g = q.astype(dtype), g.astype(dtype)
    return distances(q, g), distances(q, q), distances(g, g)


@pytest.mark.parametrize(
    "seed, num_q, num_g, k1, k2, lambda_value, dtype",
    [
        (0, 12, 40, 20, 6, 0.3, np.float32),
        (1, 30, 90, 20, 6, 0.3, np.float32),
        (2, 25, 60, 20, 6, 0.3, np.float64),
        (3, 20, 70, 10, 3, 0.5, np.float32),
        (4, 15, 50, 20, 1, 0.3, np.float32),  # no query expansion
        (5, 1, 30, 20, 6, 0.3, np.float32),  # a single query
        (6, 5, 8, 20, 6, 0.3, np.float32),  # fewer images than k1 + 1
    ],
)
def test_matches_standard_implementation(seed, num_q, num_g, k1, k2, lambda_value, dtype):
    q_g, q_q, g_g = random_case(seed, num_q, num_g, dtype=dtype)
    expected = standard_re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lambda_value)
    result = re_rank(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lambda_value, chunk_size=7)
    assert result.shape == (num_q, num_g) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6, rtol=0)


def test_exact_ties_rank_by_index_like_a_stable_sort():
    # Integer features on a small grid: many exactly equal distances. The original code's
    # argsort leaves their order unspecified; re_rank orders them by index, i.e. it equals the
    # reference run with a stable sort.
    rng = np.random.default_rng(10)
    q, g = rng.integers(0, 3, (15, 4)).astype(np.float32), rng.integers(0, 3, (45, 4)).astype(np.float32)
    q_g, q_q, g_g = distances(q, g), distances(q, q), distances(g, g)
    expected = standard_re_ranking(q_g, q_q, g_g, sort_kind="stable")
    np.testing.assert_allclose(re_rank(q_g, q_q, g_g, chunk_size=4), expected, atol=1e-6, rtol=0)


def test_memory_knobs_do_not_change_the_result():
    q_g, q_q, g_g = random_case(7, 20, 50)
    expected = re_rank(q_g, q_q, g_g, chunk_size=1000)
    np.testing.assert_array_equal(re_rank(q_g, q_q, g_g, chunk_size=3), expected)
    np.testing.assert_array_equal(re_rank(q_g, q_q, g_g, max_pairs=1), expected)  # one query at a time


def test_jaccard_chunks_respect_the_pair_budget():
    # Pairs per query 5, 1, 1, 10, 1 with a budget of 6: [5, 1], [1], [10] (alone, over budget), [1].
    assert list(_query_chunks(np.array([5, 1, 1, 10, 1]), 10, 6)) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert list(_query_chunks(np.array([1, 1, 1]), 2, 100)) == [(0, 2), (2, 3)]  # row limit


def test_asymmetric_inputs_follow_the_column_normalisation():
    # The reference normalises columns of the stacked matrix then transposes; with slightly
    # asymmetric q_q / g_g (as float matmuls can give) the result still matches it.
    q_g, q_q, g_g = random_case(8, 10, 30)
    rng = np.random.default_rng(0)
    q_q = q_q + rng.uniform(0, 1e-3, q_q.shape).astype(np.float32)
    g_g = g_g + rng.uniform(0, 1e-3, g_g.shape).astype(np.float32)
    np.testing.assert_allclose(re_rank(q_g, q_q, g_g), standard_re_ranking(q_g, q_q, g_g), atol=1e-6, rtol=0)


def test_bad_shapes_raise_one_clear_error():
    q_g, q_q, g_g = random_case(9, 4, 10)
    with pytest.raises(ReRankError, match="expected shapes"):
        re_rank(q_g, q_q, g_g[:5, :5])
    with pytest.raises(ReRankError, match="k2"):
        re_rank(q_g, q_q, g_g, k2=100)
    g_g[0, 1] = np.nan
    with pytest.raises(ReRankError, match="g_g_dist: contains NaN"):
        re_rank(q_g, q_q, g_g)
