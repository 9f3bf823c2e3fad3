"""The evaluation core of the evaluate stage: metrics, rankings and the files they go to."""

import json

import numpy as np
import pytest

from dranet_keras.data.records import Record
from dranet_keras.errors import UserError
from dranet_keras.evaluation.results import evaluate_embeddings, write_results

# q0 (pid 1) and q1 (pid 2) each have one cross-camera match; q2 (pid 3) has none: skipped.
QUERY = [Record("q0.jpg", 1, 0), Record("q1.jpg", 2, 0), Record("q2.jpg", 3, 0)]
QUERY_FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
GALLERY = [
    Record("g0.jpg", 1, 1),  # q0's match
    Record("g1.jpg", 2, 1),  # q1's match
    Record("g2.jpg", 1, 0),  # junk for q0 (same camera), nearest of all
    Record("g3.jpg", 0, 1),  # distractor, opposite of q0
]
GALLERY_FEATURES = np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 0.0], [-1.0, 0.0]])


def test_hand_worked_metrics_and_rankings():
    with pytest.warns(UserWarning, match="1 of 3 queries"):
        metrics, cmc, rankings = evaluate_embeddings(
            QUERY_FEATURES, GALLERY_FEATURES, QUERY, GALLERY, rerank=False, max_rank=4, visual_queries=3
        )
    # Both counted queries have their match at rank 1 once junk is removed.
    assert metrics["num_query"] == 3 and metrics["num_gallery"] == 4 and metrics["skipped_queries"] == 1
    assert metrics["mAP"] == pytest.approx(1.0) and metrics["mINP"] == pytest.approx(1.0)
    assert metrics["rank1"] == metrics["rank20"] == pytest.approx(1.0)
    assert metrics["rerank"] is None and metrics["protocol"] == "market"
    np.testing.assert_allclose(cmc, [1, 1, 1, 1])
    q0 = rankings["queries"][0]
    assert (q0["path"], q0["pid"], q0["camid"]) == ("q0.jpg", 1, 0)
    # Junk g2 is left out; cosine distances: g0 1 - 1/sqrt(1.01), g1 1 - 0.1/sqrt(1.01), g3 2.
    assert [entry["index"] for entry in q0["top"]] == [0, 1, 3]
    assert [entry["match"] for entry in q0["top"]] == [True, False, False]
    assert q0["top"][0]["distance"] == pytest.approx(1 - 1 / np.sqrt(1.01), abs=1e-6)
    assert q0["top"][2] == {"index": 3, "path": "g3.jpg", "pid": 0, "camid": 1, "distance": pytest.approx(2.0), "match": False}


def test_rerank_summary_on_separated_identities():
    # Three tight identity clusters far apart: retrieval is perfect with and without re-ranking.
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 10
    query = [Record(f"q{i}", i, 0) for i in range(3)]
    gallery = [Record(f"g{i}{j}", i, 1) for i in range(3) for j in range(4)]
    q_features = centres + 0.01 * rng.normal(size=(3, 8))
    g_features = np.repeat(centres, 4, axis=0) + 0.01 * rng.normal(size=(12, 8))
    metrics, _, _ = evaluate_embeddings(q_features, g_features, query, gallery, metric="euclidean", max_rank=5)
    assert metrics["mAP"] == pytest.approx(1.0)
    assert set(metrics["rerank"]) == {"mAP", "mINP", "rank1", "rank5", "rank10", "rank20"}
    assert metrics["rerank"]["mAP"] == pytest.approx(1.0) and metrics["rerank"]["rank1"] == 1.0


def test_features_must_match_records():
    with pytest.raises(UserError, match="features/records mismatch"):
        evaluate_embeddings(QUERY_FEATURES[:2], GALLERY_FEATURES, QUERY, GALLERY)


def test_written_files_follow_the_contract(tmp_path):
    metrics = {"dataset": "synthetic", "synthetic": True, "variant": "dra", "mAP": 0.5, "rerank": None}
    rankings = {"queries": [{"path": "q.jpg", "pid": 1, "camid": 0, "top": []}]}
    write_results(tmp_path / "results" / "dra", metrics, np.array([0.5, 0.75, 1.0]), rankings)
    out = tmp_path / "results" / "dra"
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert (out / "cmc.csv").read_text() == "rank,accuracy\n1,0.500000\n2,0.750000\n3,1.000000\n"
    assert json.loads((out / "rankings.json").read_text()) == rankings
    assert sorted(p.name for p in out.iterdir()) == ["cmc.csv", "metrics.json", "rankings.json"]
