"""evaluate_rank against hand-worked cases and a straightforward reference loop written here
(torchreid's eval_market1501 definitions of CMC/AP, fast-reid's mINP, stable tie order)."""

import warnings

import numpy as np
import pytest

from dranet_keras.evaluation import RankResult, evaluate_rank
from dranet_keras.evaluation.ranking import EvaluationError, has_valid_match


def reference_market(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Per-query loop, as the reference implementations write it (stable argsort for ties)."""
    max_rank = min(max_rank, distmat.shape[1])
    all_cmc, all_ap, all_inp = [], [], []
    for q in range(distmat.shape[0]):
        order = np.argsort(distmat[q], kind="stable")
        remove = (g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q])
        raw_cmc = (g_pids[order] == q_pids[q])[~remove].astype(np.int64)
        if not raw_cmc.any():
            continue
        cmc = raw_cmc.cumsum()
        last = np.flatnonzero(raw_cmc).max()
        all_inp.append(cmc[last] / (last + 1.0))
        cmc[cmc > 1] = 1
        # When junk removal leaves fewer than max_rank samples the curve stays at its last value.
        all_cmc.append(np.pad(cmc[:max_rank], (0, max(0, max_rank - len(cmc))), mode="edge"))
        precision = raw_cmc.cumsum() / np.arange(1.0, len(raw_cmc) + 1)
        all_ap.append((precision * raw_cmc).sum() / raw_cmc.sum())
    return np.mean(all_cmc, axis=0), np.mean(all_ap), np.mean(all_inp)


def as_arrays(*values):
    return [np.asarray(v) for v in values]


# One query (pid 1, camera 0). Gallery: (pid, camera, distance).
#   0: pid 1 cam 0 d=0.1  junk (same pid, same camera) -> removed
#   1: pid 2 cam 1 d=0.2
#   2: pid 1 cam 1 d=0.3  match -> rank 2 after removal
#   3: pid 3 cam 1 d=0.4
#   4: pid 1 cam 2 d=0.5  match -> rank 4
#   5: pid 0 cam 1 d=0.6  distractor
# AP = (1/2 + 2/4) / 2 = 0.5; INP = 2 matches / rank 4 of the last = 0.5; CMC = 0,1,1,1,1.
ONE_QUERY = dict(
    distmat=np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]),
    q_pids=np.array([1]),
    g_pids=np.array([1, 2, 1, 3, 1, 0]),
    q_camids=np.array([0]),
    g_camids=np.array([0, 1, 1, 1, 2, 1]),
)


def test_single_query_hand_worked():
    result = evaluate_rank(**ONE_QUERY, max_rank=5)
    assert isinstance(result, RankResult)
    np.testing.assert_allclose(result.cmc, [0, 1, 1, 1, 1])
    assert result.mAP == pytest.approx(0.5, abs=1e-12)
    assert result.mINP == pytest.approx(0.5, abs=1e-12)


def test_max_rank_beyond_gallery_is_truncated_with_a_warning():
    with pytest.warns(UserWarning, match="only 6 samples"):
        result = evaluate_rank(**ONE_QUERY, max_rank=50)
    np.testing.assert_allclose(result.cmc, [0, 1, 1, 1, 1, 1])


def test_ties_follow_stable_gallery_order():
    # Query pid 1 cam 0. Gallery: 0: pid 2 d=.5, 1: pid 1 d=.5, 2: pid 1 d=.5, 3: pid 3 d=.2
    # (all camera 1). Stable order: 3, 0, 1, 2 -> matches at ranks 3 and 4.
    # AP = (1/3 + 2/4) / 2 = 5/12; INP = 2/4; CMC = 0, 0, 1, 1.
    result = evaluate_rank(
        np.array([[0.5, 0.5, 0.5, 0.2]]), [1], [2, 1, 1, 3], [0], [1, 1, 1, 1], max_rank=4
    )
    np.testing.assert_allclose(result.cmc, [0, 0, 1, 1])
    assert result.mAP == pytest.approx(5 / 12, abs=1e-12)
    assert result.mINP == pytest.approx(0.5, abs=1e-12)
    # A match tied with a non-match but at a smaller gallery index ranks first.
    result = evaluate_rank(np.array([[0.5, 0.5]]), [1], [1, 2], [0], [1, 1], max_rank=2)
    np.testing.assert_allclose(result.cmc, [1, 1])
    assert result.mAP == 1.0 and result.mINP == 1.0


def test_query_without_valid_match_is_skipped_and_counted():
    # Query 1 (pid 9) has only a same-camera sample of its pid: junk, so it is skipped.
    # Query 0 has its single match at rank 1: AP = INP = 1.
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    q_pids, g_pids, q_camids, g_camids = as_arrays([1, 9], [1, 2, 9], [0, 0], [1, 1, 0])
    with pytest.warns(UserWarning, match="1 of 2 queries have no valid match"):
        result = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=3)
    np.testing.assert_allclose(result.cmc, [1, 1, 1])
    assert (result.mAP, result.mINP) == (1.0, 1.0)
    np.testing.assert_array_equal(has_valid_match(q_pids, g_pids, q_camids, g_camids), [True, False])


def test_two_queries_average():
    # Query 0 as ONE_QUERY (AP .5, INP .5, first match rank 2); query 1 (pid 2, cam 0) has its
    # only match (gallery 1, cam 1) at rank 1 once it is nearest: AP = INP = 1.
    distmat = np.vstack([ONE_QUERY["distmat"], [[0.9, 0.0, 0.9, 0.9, 0.9, 0.9]]])
    result = evaluate_rank(
        distmat, [1, 2], ONE_QUERY["g_pids"], [0, 0], ONE_QUERY["g_camids"], max_rank=3
    )
    np.testing.assert_allclose(result.cmc, [0.5, 1, 1])
    assert result.mAP == pytest.approx(0.75, abs=1e-12)
    assert result.mINP == pytest.approx(0.75, abs=1e-12)


def test_all_distractor_gallery_is_an_error():
    with pytest.raises(EvaluationError, match="no query has a gallery sample"):
        evaluate_rank(np.ones((2, 3)), [1, 2], [0, 0, 0], [0, 0], [1, 1, 1], max_rank=3)


def test_match_behind_distractors():
    # Five distractors nearer than the only match: rank 6. AP = INP = 1/6; CMC 0 up to rank 5.
    distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    result = evaluate_rank(distmat, [4], [0, 0, 0, 0, 0, 4], [0], [1] * 6, max_rank=6)
    np.testing.assert_allclose(result.cmc, [0, 0, 0, 0, 0, 1])
    assert result.mAP == pytest.approx(1 / 6, abs=1e-12)
    assert result.mINP == pytest.approx(1 / 6, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunk_size", [1, 7, 256])
def test_agrees_with_reference_loop_on_random_cases(seed, chunk_size):
    rng = np.random.default_rng(seed)
    num_q, num_g = rng.integers(1, 40), rng.integers(5, 120)
    q_pids, g_pids = rng.integers(0, 8, num_q), rng.integers(0, 8, num_g)
    q_camids, g_camids = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    g_pids[0], g_camids[0] = q_pids[0], (q_camids[0] + 1) % 3  # at least one valid query
    # Integer distances: many ties. Half the seeds: float32 continuous distances.
    if seed % 2:
        distmat = rng.integers(0, 6, (num_q, num_g)).astype(np.float32)
    else:
        distmat = rng.random((num_q, num_g), dtype=np.float32)
    expected_cmc, expected_map, expected_minp = reference_market(distmat, q_pids, g_pids, q_camids, g_camids, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=20, chunk_size=chunk_size)
    np.testing.assert_allclose(result.cmc, expected_cmc, atol=1e-12)
    assert result.mAP == pytest.approx(expected_map, abs=1e-12)
    assert result.mINP == pytest.approx(expected_minp, abs=1e-12)


def test_cuhk03_single_shot_is_exact_when_each_identity_has_one_image():
    # Every identity has one gallery image, so sampling changes nothing: CMC = market CMC.
    # Query pid 1 ranks gallery pids 2, 3, 1 (match at rank 3); query pid 2 ranks 2 first.
    distmat = np.array([[0.3, 0.1, 0.2], [0.3, 0.1, 0.2]])
    args = (distmat, [1, 2], [1, 2, 3], [0, 0], [1, 1, 1])
    market = evaluate_rank(*args, max_rank=3)
    cuhk03 = evaluate_rank(*args, max_rank=3, protocol="cuhk03")
    np.testing.assert_allclose(market.cmc, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(cuhk03.cmc, market.cmc)
    assert (cuhk03.mAP, cuhk03.mINP) == (market.mAP, market.mINP)


def test_cuhk03_single_shot_expectation():
    # Query pid 1 (cam 0); ranked gallery pids 2, 1, 2, 1 (cam 1). One random image of each
    # identity: the pid-1 image comes first only if it is gallery 1 and the pid-2 one is
    # gallery 2: probability 1/4. Rank-2 accuracy is always 1 (two identities).
    # mAP uses the whole gallery: (1/2 + 2/4) / 2 = 0.5.
    args = (np.array([[0.1, 0.2, 0.3, 0.4]]), [1], [2, 1, 2, 1], [0], [1, 1, 1, 1])
    result = evaluate_rank(*args, max_rank=4, protocol="cuhk03", num_repeats=4000, seed=1)
    assert result.cmc[0] == pytest.approx(0.25, abs=0.03)  # binomial sd ~0.007
    np.testing.assert_allclose(result.cmc[1:], 1.0)
    assert result.mAP == pytest.approx(0.5, abs=1e-12)
    same_seed = evaluate_rank(*args, max_rank=4, protocol="cuhk03", num_repeats=4000, seed=1)
    np.testing.assert_array_equal(result.cmc, same_seed.cmc)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(distmat=np.zeros(3)), "2-D"),
        (dict(g_pids=np.array([1, 2])), "g_pids: expected 6"),
        (dict(distmat=np.array([[np.nan, 0.2, 0.3, 0.4, 0.5, 0.6]])), "NaN"),
        (dict(protocol="viper"), "protocol"),
    ],
)
def test_bad_inputs_raise_one_clear_error(kwargs, message):
    with pytest.raises(EvaluationError, match=message):
        evaluate_rank(**{**ONE_QUERY, **kwargs})
