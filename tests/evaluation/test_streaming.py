"""evaluate_features / re_rank_features (streamed from features) against the dense path
(evaluate_rank, re_rank on whole distance matrices) and the standard dense re-ranking."""

import warnings

import numpy as np
import pytest

from dranet_keras.errors import UserError
from dranet_keras.evaluation import evaluate_distance_rows, evaluate_features, evaluate_rank, re_rank, re_rank_features
from dranet_keras.evaluation.distance import compute_distance
from dranet_keras.evaluation.streaming import FeatureDistances
from tests.evaluation.test_rerank import standard_re_ranking


def tied_split(seed, num_q=40, num_g=150, dim=12):
    """Unit features with four entries of +-0.5: every dot product is a multiple of 1/4, exact in
    any summation order, so distances are bit-identical however they are blocked and many tie.
    Labels: 6 ids + distractors (pid 0) in the gallery, 3 cameras (junk: same pid and camera);
    query id 7 has no gallery sample at all."""
    rng = np.random.default_rng(seed)

    def features(n):
        out = np.zeros((n, dim), dtype=np.float32)
        for row in out:
            row[rng.choice(dim, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
        return out

    q_pids = rng.integers(1, 8, num_q)
    g_pids = rng.integers(0, 7, num_g)
    return features(num_q), features(num_g), q_pids, g_pids, rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)


def results_equal(a, b):
    np.testing.assert_allclose(a.cmc, b.cmc, rtol=0, atol=1e-12)
    assert a.mAP == pytest.approx(b.mAP, abs=1e-12) and a.mINP == pytest.approx(b.mINP, abs=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("protocol", ["market", "cuhk03"])
@pytest.mark.parametrize("memory_gb", [1e-7, 5e-6, 1.0])  # 1 row, a few rows, everything per block
def test_exactly_evaluate_rank_with_ties_junk_distractors_and_unmatched_queries(metric, protocol, memory_gb):
    query, gallery, *labels = tied_split(seed=1)
    distmat = compute_distance(query, gallery, metric)
    assert len(np.unique(distmat)) < distmat.size / 20  # ties everywhere
    with warnings.catch_warnings(record=True) as dense_warnings:
        warnings.simplefilter("always")
        expected = evaluate_rank(distmat, *labels, max_rank=20, protocol=protocol, seed=3)
    with warnings.catch_warnings(record=True) as streamed_warnings:
        warnings.simplefilter("always")
        streamed = evaluate_features(query, gallery, *labels, metric, 20, protocol, memory_gb, seed=3)
    results_equal(streamed, expected)
    assert [str(w.message) for w in streamed_warnings] == [str(w.message) for w in dense_warnings]
    assert any("have no valid match" in str(w.message) for w in streamed_warnings)


def test_blocks_stay_within_the_memory_budget():
    query, gallery, *labels = tied_split(seed=2, num_q=50, num_g=100)
    sizes = []

    class Recording(FeatureDistances):
        def rows(self, start, stop):
            sizes.append(stop - start)
            return super().rows(start, stop)

    distances = Recording(query, gallery)
    budget_rows = 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluate_distance_rows(distances, *labels, memory_gb=budget_rows * distances.bytes_per_row / 2**30)
    assert max(sizes) == budget_rows and sum(sizes) == 50


def test_bad_features_are_one_line_errors():
    query, gallery, *labels = tied_split(seed=0)
    query[3, 0] = np.nan
    with pytest.raises(UserError, match="query features: contain NaN"):
        evaluate_features(query, gallery, *labels)
    with pytest.raises(UserError, match="g_pids: expected 150 values"):
        evaluate_features(gallery[:40], gallery, labels[0], labels[1][:-1], *labels[2:])


def market_like(scale, dim, seed=0):
    """Market-1501's structure scaled down: 751 ids, 6 cameras, a fifth of the gallery distractors."""
    rng = np.random.default_rng(seed)
    num_q, num_g, num_ids = round(3368 * scale), round(15913 * scale), round(751 * scale)
    centres = rng.standard_normal((num_ids + 1, dim))
    q_pids = rng.integers(1, num_ids + 1, num_q)
    g_pids = np.concatenate([rng.integers(1, num_ids + 1, num_g - num_g // 5), np.zeros(num_g // 5, dtype=np.int64)])

    def features(pids):
        return (rng.standard_normal((len(pids), dim)) + np.where(pids[:, None] > 0, 0.5 * centres[pids], 0.0)).astype(np.float32)

    return features(q_pids), features(g_pids), q_pids, g_pids, rng.integers(0, 6, num_q), rng.integers(0, 6, num_g)


def all_rows(reranked, step):
    return np.concatenate([reranked.rows(s, min(s + step, reranked.shape[0])) for s in range(0, reranked.shape[0], step)])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_re_rank_features_equals_the_standard_dense_re_ranking(metric):
    query, gallery, *_ = market_like(0.01, 32)  # 34 x 159
    args = [compute_distance(a, b, metric) for a, b in ((query, gallery), (query, query), (gallery, gallery))]
    expected = standard_re_ranking(*args, k1=20, k2=6, lambda_value=0.3, sort_kind="stable")
    reranked = re_rank_features(query, gallery, metric=metric, memory_gb=1e-5)  # a few rows per block
    assert reranked.shape == expected.shape
    np.testing.assert_allclose(all_rows(reranked, 5), expected, rtol=0, atol=1e-6)


def test_re_rank_features_equals_re_rank_at_market_like_size_and_scores_alike():
    query, gallery, *labels = market_like(0.1, 128)  # 337 x 1591, 75 ids
    dense = re_rank(*(compute_distance(a, b) for a, b in ((query, gallery), (query, query), (gallery, gallery))),
                    k1=20, k2=6, lambda_value=0.3)
    reranked = re_rank_features(query, gallery, k1=20, k2=6, lambda_value=0.3)
    np.testing.assert_allclose(all_rows(reranked, 100), dense, rtol=0, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, streamed = evaluate_rank(dense, *labels), evaluate_distance_rows(reranked, *labels, memory_gb=0.01)
        plain = evaluate_features(query, gallery, *labels)
    assert streamed.mAP == pytest.approx(expected.mAP, abs=1e-4)
    assert streamed.mAP > plain.mAP  # re-ranking helps on clustered identities, as it should


def test_re_rank_features_rejects_bad_k():
    query, gallery, *_ = tied_split(seed=0, num_q=3, num_g=4)
    with pytest.raises(UserError, match="k2 <= 7"):
        re_rank_features(query, gallery, k2=8)
