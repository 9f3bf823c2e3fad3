"""docs/formats.md describes what the writers write (train_meta.json and training_log.csv are
checked by the end-to-end pipeline test, which trains)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dranet_keras import layout
from dranet_keras.config import DataConfig
from dranet_keras.data.records import Record
from dranet_keras.evaluation.results import evaluate_embeddings, write_results
from dranet_keras.stages.prepare import prepare

from .formats import check, documented


def test_the_checker_catches_missing_and_undocumented_keys(tmp_path):
    path = tmp_path / "metrics.json"
    always = [name for name, required in documented("metrics.json").items() if required]
    path.write_text(json.dumps({**{name: 0 for name in always}, "rerank": None}))
    check(path)
    path.write_text(json.dumps({**{name: 0 for name in always[1:]}, "rerank": None}))
    with pytest.raises(AssertionError, match=f"missing: \\['{always[0]}'\\]"):
        check(path)
    path.write_text(json.dumps({**{name: 0 for name in always}, "rerank": {"mAP": 1, "recall": 1}}))
    with pytest.raises(AssertionError, match="rerank.recall"):
        check(path)


def test_prepare_writes_the_documented_manifest_and_stats(tmp_path):
    data = DataConfig(root=str(tmp_path / "raw"), prepared_dir=str(tmp_path / "prepared"), synthetic_train_ids=2,
                      synthetic_test_ids=2, synthetic_cameras=2, synthetic_distractors=1, synthetic_occluded_ids=2)
    prepare(data, seed=0)
    out = layout.prepared_dir("synthetic", data.prepared_dir)
    check(out / layout.MANIFEST)
    check(out / layout.STATS)
    occluded = json.loads((out / layout.STATS).read_text())["occluded_split"]
    assert (occluded["query"], occluded["gallery"]) == (2 * 2, 2 * 2)  # 2 ids x 2 cameras, one query and one gallery image each


@pytest.mark.parametrize("rerank", [True, False])
def test_evaluate_writes_the_documented_results(tmp_path, rerank):
    rng = np.random.default_rng(0)
    query = [Record(f"q{i}.jpg", i % 3 + 1, 0) for i in range(6)]
    gallery = [Record(f"g{i}.jpg", i % 3 + 1, 1) for i in range(12)]
    metrics, cmc, rankings = evaluate_embeddings(rng.normal(size=(6, 4)), rng.normal(size=(12, 4)), query, gallery,
                                                 max_rank=12, rerank=rerank, k1=4, k2=2, visual_queries=2)
    # the header the stage adds (dranet_keras/stages/evaluate.py, run)
    metrics = {"dataset": "synthetic", "synthetic": True, "variant": "dra", **metrics}
    out = layout.results_dir("dra", 0, root=tmp_path)
    write_results(out, metrics, cmc, rankings)
    for name in (layout.METRICS, layout.CMC, layout.RANKINGS):
        check(out / name)
