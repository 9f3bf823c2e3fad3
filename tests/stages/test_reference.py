"""`dranet reference`: chance from random rankings, and the colour histogram scored by the
evaluate stage's code on a real (tiny) split."""

import json

import numpy as np
import pytest

from dranet_keras.cli import main
from dranet_keras.data.manifest import write_manifest
from dranet_keras.data.records import Record, Split
from dranet_keras.evaluation.chance import chance_metrics
from tests.formats import check as check_format
from tests.report.pipeline_fixtures import person_image


def test_chance_matches_the_expectation_of_a_random_ranking():
    # One query, a gallery of its match and another pid (both in another camera). A random
    # ranking puts the match first half the time: E[rank-1] = 1/2, E[AP] = 1/2 * 1 + 1/2 * 1/2
    # = 3/4, and rank-2 (reported as rank-5 on a 2-entry gallery) is always 1.
    metrics = chance_metrics(np.array([0]), np.array([0, 1]), np.array([0]), np.array([1, 1]), max_rank=2, protocol="market", draws=2000)
    assert metrics["rank1"] == pytest.approx(0.5, abs=0.04)
    assert metrics["mAP"] == pytest.approx(0.75, abs=0.02)
    assert metrics["rank5"] == 1.0
    # 50 queries (camera 0), gallery: their 50 matches in camera 1, 50 same-pid copies in camera 0
    # (junk for their own query only, a wrong answer for the others), 50 other pids: each query
    # ranks 149 valid entries, one a match, so E[rank-1] = 1/149 and E[rank-10] = 10/149.
    q_pids, q_camids = np.arange(50), np.zeros(50)
    g_pids = np.concatenate([np.arange(50), np.arange(50), np.arange(50, 100)])
    g_camids = np.concatenate([np.ones(50), np.zeros(50), np.ones(50)])
    metrics = chance_metrics(q_pids, g_pids, q_camids, g_camids, max_rank=10, protocol="market", draws=40)
    assert metrics["rank1"] == pytest.approx(1 / 149, abs=0.01)
    assert metrics["rank10"] == pytest.approx(10 / 149, abs=0.02)
    assert set(metrics) == {"mAP", "mINP", "rank1", "rank5", "rank10", "rank20"}
    # Streamed in blocks of one row or of all rows: the same random rankings, the same numbers.
    one_row = chance_metrics(q_pids, g_pids, q_camids, g_camids, max_rank=10, draws=3, memory_gb=1e-9)
    assert one_row == chance_metrics(q_pids, g_pids, q_camids, g_camids, max_rank=10, draws=3)


def test_reference_stage_writes_both_references_with_the_effective_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = {"query": [], "gallery": []}
    for pid in range(1, 9):  # a pid-specific body colour: the histogram tells people apart
        for split, camid in (("query", 1), ("gallery", 2), ("gallery", 3)):
            path = tmp_path / "images" / f"{pid}_{camid}.png"
            path.parent.mkdir(exist_ok=True)
            person_image(pid, seed=pid * 10 + camid).save(path)
            records[split].append(Record(str(path), pid, camid))
    write_manifest(Split([], records["query"], records["gallery"]), tmp_path / "manifest.csv")
    (tmp_path / "params.yaml").write_text("seed: 0\neval:\n  rerank: false\n  visual_queries: 2\n")
    status = main(["reference", "--manifest", "manifest.csv", "--results-dir", "out", "--set", "eval.metric=euclidean"])
    assert status == 0
    histogram = json.loads((tmp_path / "out" / "colour_histogram" / "metrics.json").read_text())
    chance = json.loads((tmp_path / "out" / "chance" / "metrics.json").read_text())
    assert histogram["variant"] == "colour_histogram" and chance["variant"] == "chance"
    assert histogram["config"]["eval"]["metric"] == "euclidean" and chance["config"]["eval"]["metric"] == "euclidean"
    # 8 identities, 2 matches each among 16: chance rank-1 is 2/16 in expectation (40 draws of
    # a query: within 3 standard deviations, 0.16); the pid-coloured bodies make the histogram
    # far better (not perfect: the noisy background).
    assert chance["rank1"] == pytest.approx(2 / 16, abs=0.16)
    assert histogram["rank1"] >= 0.5 and histogram["mAP"] > 2 * chance["mAP"]
    assert (tmp_path / "out" / "colour_histogram" / "rankings.json").is_file()
    assert (tmp_path / "out" / "colour_histogram" / "cmc.csv").is_file()
    for name in ("metrics.json", "cmc.csv", "rankings.json"):  # docs/formats.md
        check_format(tmp_path / "out" / "colour_histogram" / name)
    check_format(tmp_path / "out" / "chance" / "metrics.json", "metrics.json (chance)")
    assert (histogram["dataset"], histogram["synthetic"]) == ("synthetic", True)  # no stats.json: data.name

    # a manifest that `dranet prepare` wrote for another set: its stats.json names the set
    (tmp_path / "stats.json").write_text(json.dumps({"dataset": "market1501", "root": str(tmp_path / "images")}))
    assert main(["reference", "--manifest", "manifest.csv", "--results-dir", "out"]) == 0
    for name in ("colour_histogram", "chance"):
        metrics = json.loads((tmp_path / "out" / name / "metrics.json").read_text())
        assert (metrics["dataset"], metrics["synthetic"]) == ("market1501", False)
