"""An evaluation-only data set end to end (Occluded-REID on a fake tree): prepare writes a manifest
without a train split, train refuses it in one line, reference and evaluate score it, evaluate
with a model trained on other identities (`--model`)."""

from __future__ import annotations

import json

import pytest

from dranet_keras.cli import main
from dranet_keras.data.manifest import read_manifest
from tests.data.fake_trees import OCCLUDED_REID_FILES, make_tree
from tests.stages.test_prepare import prepare_args


@pytest.fixture
def prepared(tmp_path):
    """`dranet prepare` of a fake Occluded-REID tree; returns its manifest."""
    root = make_tree(tmp_path / "Occluded_REID", OCCLUDED_REID_FILES)
    assert main(prepare_args(tmp_path, ["data.name=occluded_reid", f"data.root={root}"])) == 0
    return tmp_path / "prepared" / "occluded_reid" / "manifest.csv"


def test_prepare_writes_an_evaluation_only_manifest_and_train_refuses_it(prepared, tmp_path, capsys):
    split = read_manifest(prepared)
    assert (len(split.train), len(split.query), len(split.gallery)) == (0, 3, 6)
    png = tmp_path / "raw" / "occluded_reid" / "images_png"  # <data.extract_dir>/<data.name>/images_png
    assert all(r.path.startswith(str(png)) and r.path.endswith(".png") for r in split.query + split.gallery)
    stats = json.loads((prepared.parent / "stats.json").read_text())
    assert (stats["num_train_ids"], stats["train"]["images"], stats["query"]["per_camera"], stats["gallery"]["per_camera"]) == (
        0, 0, {"0": 3}, {"1": 6})
    capsys.readouterr()
    args = ["train", "--params", str(tmp_path / "none.yaml"), "--set", "data.name=occluded_reid",
            "--manifest", str(prepared), "--models-dir", str(tmp_path / "models")]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "has no training images (occluded_reid is evaluation-only)" in error
    assert "dranet evaluate --model" in error and not (tmp_path / "models").exists()


def test_reference_scores_an_evaluation_only_set(prepared, tmp_path):
    args = ["reference", "--params", str(tmp_path / "none.yaml"), "--set", "data.name=occluded_reid",
            "--set", "eval.rerank=false", "--set", "eval.max_rank=5", "--manifest", str(prepared), "--results-dir", str(tmp_path / "results")]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "results" / "colour_histogram" / "metrics.json").read_text())
    # Queries in camera 0, gallery in camera 1: the same-camera rule removes no match, none is skipped.
    assert (metrics["dataset"], metrics["num_query"], metrics["num_gallery"], metrics["skipped_queries"]) == ("occluded_reid", 3, 6, 0)


@pytest.mark.slow
def test_evaluate_accepts_a_model_trained_on_other_identities(prepared, tmp_path):
    from dranet_keras.models import build_dranet

    model_path = tmp_path / "market" / "model.keras"  # stands for a model trained on Market-1501's ids
    model_path.parent.mkdir()
    build_dranet(num_ids=5, variant="baseline", input_shape=(32, 16, 3), depth=14).save(model_path)  # ResNet14: a test of the stage
    (tmp_path / "params.yaml").write_text("model: {height: 32, width: 16, parts: 2, depth: 14}\ndata: {name: occluded_reid}\neval: {batch_size: 4, max_rank: 5}\n")
    out = tmp_path / "results" / "occluded_reid" / "baseline"
    argv = ["evaluate", "--params", str(tmp_path / "params.yaml"), "--variant", "baseline", "--model", str(model_path),
            "--manifest", str(prepared), "--output-dir", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["dataset"], metrics["num_query"], metrics["num_gallery"], metrics["skipped_queries"]) == ("occluded_reid", 3, 6, 0)
    assert all(0.0 <= metrics[key] <= 1.0 for key in ("mAP", "mINP", "rank1"))
