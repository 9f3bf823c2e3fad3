"""Per-query metrics (the ones mAP and CMC average) and metrics per query stratum."""

import numpy as np
import pytest

from dranet_keras.evaluation.ranking import evaluate_rank, rank_blocks_per_query, check_labels
from dranet_keras.evaluation.strata import MIN_QUERIES, stratum_masks, strata_metrics, subset_metrics


def _per_query(distmat, q_pids, g_pids, q_cams, g_cams):
    labels = check_labels(*distmat.shape, q_pids, g_pids, q_cams, g_cams)
    return rank_blocks_per_query([(0, distmat)], distmat.shape[1], *labels, max_rank=3, protocol="market")


def test_per_query_metrics_by_hand_and_their_means_are_the_totals():
    # query 0 (pid 1): gallery order g1 (pid 2), g0 (pid 1), g2 (pid 1): AP = (1/2 + 2/3) / 2, first match rank 1
    # query 1 (pid 2): g1 first: AP 1, first rank 0; query 2 (pid 3) has no match: skipped
    distmat = np.array([[0.5, 0.1, 0.9], [0.9, 0.1, 0.5], [0.2, 0.3, 0.4]])
    q_pids, g_pids = np.array([1, 2, 3]), np.array([1, 2, 1])
    q_cams, g_cams = np.array([0, 0, 0]), np.array([1, 1, 1])
    with pytest.warns(UserWarning, match="1 of 3 queries"):
        result, per_query = _per_query(distmat, q_pids, g_pids, q_cams, g_cams)
    assert per_query.query.tolist() == [0, 1]
    assert per_query.ap == pytest.approx([(1 / 2 + 2 / 3) / 2, 1.0])
    assert per_query.first_rank.tolist() == [1, 0]
    assert per_query.inp == pytest.approx([2 / 3, 1.0])
    assert result.mAP == pytest.approx(per_query.ap.mean()) and result.mINP == pytest.approx(per_query.inp.mean())
    with pytest.warns(UserWarning):
        reference = evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=3)
    assert reference.mAP == result.mAP and np.array_equal(reference.cmc, result.cmc)


def test_stratum_metrics_are_the_subset_means_and_small_strata_have_no_numbers():
    n = 2 * MIN_QUERIES
    rng = np.random.default_rng(0)
    from dranet_keras.evaluation.ranking import QueryMetrics

    per_query = QueryMetrics(np.arange(n), rng.random(n), rng.random(n), rng.integers(0, 3, n))
    mask = np.arange(n) % 2 == 0
    cell = subset_metrics(per_query, mask)
    assert cell["num_query"] == MIN_QUERIES
    assert cell["mAP"] == pytest.approx(per_query.ap[mask].mean())
    assert cell["rank1"] == pytest.approx(np.mean(per_query.first_rank[mask] == 0))
    few = subset_metrics(per_query, np.arange(n) < MIN_QUERIES - 1)
    assert few == {"num_query": MIN_QUERIES - 1, "mAP": None, "rank1": None, "mINP": None}


def test_strata_split_the_queries_by_their_attributes():
    attributes = [
        {"occluded": 1, "occluded_share": 0.1, "back_view": 0, "brightness": 0.7},
        {"occluded": 1, "occluded_share": 0.5, "back_view": 1, "brightness": 1.0},
        {"occluded": 0, "occluded_share": 0.0, "back_view": 1, "brightness": 1.2},
    ]
    masks = stratum_masks(attributes)
    assert masks["occlusion"]["occluded"].tolist() == [True, True, False]
    assert masks["occluded share"]["0-20%"].tolist() == [True, False, False]
    assert masks["occluded share"]["40-100%"].tolist() == [False, True, False]
    assert masks["view"]["back"].tolist() == [False, True, True]
    assert [masks["lighting"][k].tolist() for k in ("dark", "normal", "bright")] == [[True, False, False], [False, True, False], [False, False, True]]
    for strata in masks.values():  # no query in two strata of one axis
        assert np.sum([m.astype(int) for m in strata.values()], axis=0).max() <= 1
    from dranet_keras.evaluation.ranking import QueryMetrics

    table = strata_metrics(QueryMetrics(np.arange(3), np.ones(3), np.ones(3), np.zeros(3, int)), attributes)
    assert table["view"]["back"]["num_query"] == 2 and table["view"]["back"]["mAP"] is None  # below MIN_QUERIES
