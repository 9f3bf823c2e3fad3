"""The evaluate stage: command line, refusals before heavy work, end to end."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dranet_keras import layout
from dranet_keras.cli import build_parser
from dranet_keras.data.records import Record
from dranet_keras.models import loading


def test_cli_registers_evaluate(capsys):
    args = build_parser().parse_args(["evaluate", "--variant", "cic", "--set", "eval.rerank=false"])
    assert args.variant == "cic" and args.overrides == ["eval.rerank=false"]


@pytest.mark.slow
def test_dranet_evaluate_end_to_end(tmp_path, capsys):
    """`dranet evaluate` on a tiny image tree with an untrained baseline model: the three files,
    then a second run from the feature cache with the same results."""
    from PIL import Image

    from dranet_keras.cli import main
    from dranet_keras.data.manifest import write_manifest
    from dranet_keras.data.records import Split
    from dranet_keras.models import build_dranet

    rng = np.random.default_rng(0)
    records = {"query": [], "gallery": []}
    for pid in (1, 2, 3):
        colour = rng.integers(0, 256, 3)
        for name, camid, copies in (("query", 0, 1), ("gallery", 1, 2)):
            for copy in range(copies):
                path = tmp_path / "images" / f"{pid}_c{camid}_{copy}.png"
                path.parent.mkdir(exist_ok=True)
                pixels = np.clip(colour + rng.integers(-20, 21, (32, 16, 3)), 0, 255).astype("uint8")
                Image.fromarray(pixels).save(path)
                records[name].append(Record(str(path), pid, camid))
    manifest = tmp_path / "prepared" / "manifest.csv"
    write_manifest(Split([], records["query"], records["gallery"]), manifest)
    model_path = tmp_path / "model.keras"
    build_dranet(num_ids=3, variant="baseline", input_shape=(32, 16, 3), depth=14).save(model_path)  # ResNet14: a test of the stage
    # a manifest with no stats.json beside it: no occluded split, whatever data.root holds
    (tmp_path / "params.yaml").write_text("model: {height: 32, width: 16, parts: 2, depth: 14}\neval: {batch_size: 4, visual_queries: 2}\n")
    out = tmp_path / "results"
    argv = ["evaluate", "--params", str(tmp_path / "params.yaml"), "--variant", "baseline",
            "--model", str(model_path), "--manifest", str(manifest), "--output-dir", str(out),
            "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["variant"], metrics["dataset"], metrics["num_query"], metrics["num_gallery"]) == ("baseline", "synthetic", 3, 6)
    assert metrics["occluded"] is None and json.loads((out / layout.OCCLUDED_RANKINGS).read_text()) == {"queries": []}
    assert metrics["skipped_queries"] == 0
    for values in (metrics, metrics["rerank"]):
        assert all(0.0 <= values[key] <= 1.0 for key in ("mAP", "mINP", "rank1", "rank5", "rank10", "rank20"))
    cmc = (out / "cmc.csv").read_text().splitlines()
    assert cmc[0] == "rank,accuracy" and len(cmc) == 1 + 6  # max_rank capped at the gallery size
    rankings = json.loads((out / "rankings.json").read_text())
    assert len(rankings["queries"]) == 2 and all(len(q["top"]) == 6 for q in rankings["queries"])
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()) == ["gallery", "query"]
    assert metrics["config"]["model"]["height"] == 32 and metrics["config"]["eval"]["batch_size"] == 4  # effective config
    first = {key: value for key, value in metrics.items() if key != "wall_time_s"}
    # Again in a fresh process (the model must load without this test's imports), from the cache.
    subprocess.run([sys.executable, "-m", "dranet_keras.cli", *argv], check=True, capture_output=True)
    again = json.loads((out / "metrics.json").read_text())
    assert {key: value for key, value in again.items() if key != "wall_time_s"} == first

    # New images under the same paths: new features (not the cache's), as a fresh cache gives.
    for records_of_split in records.values():
        for record in records_of_split:
            Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)).save(record.path)
    assert main(argv) == 0
    assert len(list((tmp_path / "cache").iterdir())) == 4
    regenerated = json.loads((out / "metrics.json").read_text())
    assert main([*argv[:-1], str(tmp_path / "fresh-cache")]) == 0
    fresh = json.loads((out / "metrics.json").read_text())
    assert (regenerated["mAP"], regenerated["rerank"]["mAP"]) == (fresh["mAP"], fresh["rerank"]["mAP"]) != (first["mAP"], first["rerank"]["mAP"])


@pytest.mark.slow
def test_the_occluded_split_is_the_one_the_manifest_was_prepared_with(tmp_path, capsys, monkeypatch):
    """`dranet evaluate --manifest` scores the occluded split that the manifest's stats.json
    records, at that file's root, not the one under `data.root`; and refuses, before the model
    loads, when those images changed since."""
    from PIL import Image

    from dranet_keras.cli import main
    from dranet_keras.config import DataConfig
    from dranet_keras.models import build_dranet
    from dranet_keras.stages.prepare import prepare

    data = DataConfig(root=str(tmp_path / "raw"), prepared_dir=str(tmp_path / "prepared"), synthetic_train_ids=3,
                      synthetic_test_ids=3, synthetic_cameras=2, synthetic_distractors=0, synthetic_occluded_ids=2,
                      synthetic_height=32, synthetic_width=16)
    stats = prepare(data, seed=0)
    manifest = layout.manifest_path("synthetic", data.prepared_dir)
    model_path = tmp_path / "model.keras"
    build_dranet(num_ids=3, variant="baseline", input_shape=(32, 16, 3), depth=14).save(model_path)
    # data.root names a folder with no set at all: the manifest's own set decides
    (tmp_path / "params.yaml").write_text(f"model: {{height: 32, width: 16, parts: 2, depth: 14}}\n"
                                          f"data: {{root: {tmp_path / 'elsewhere'}}}\neval: {{batch_size: 4, visual_queries: 2, rerank: false}}\n")
    out = tmp_path / "results"
    argv = ["evaluate", "--params", str(tmp_path / "params.yaml"), "--variant", "baseline", "--model", str(model_path),
            "--manifest", str(manifest), "--output-dir", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    occluded = json.loads((out / "metrics.json").read_text())["occluded"]
    recorded = stats["occluded_split"]
    # every occluded query, against its split's whole-body images plus the standard gallery
    assert (occluded["num_query"], occluded["num_gallery"]) == (recorded["query"], recorded["gallery"] + stats["gallery"]["images"])
    assert 0.0 <= occluded["mAP"] <= 1.0

    query = sorted((tmp_path / "raw" / "occluded" / "query").iterdir())[0]
    Image.new("RGB", Image.open(query).size).save(query)  # the split changed after prepare
    capsys.readouterr()  # the first run's progress bars
    monkeypatch.setattr(loading, "load_dranet", lambda path: pytest.fail("the model must not be loaded"))
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "stats.json" in error and "occluded split" in error and "dranet prepare" in error


def _refusal_before_the_model_loads(tmp_path, capsys, monkeypatch, params, records=None, input_shape=(256, 128, 3)) -> str:
    """`dranet evaluate`'s one-line error, with a model file that holds only its config.json
    (what is read before the model loads) and a loader that fails the test if it is reached."""
    import zipfile

    from dranet_keras.cli import main
    from dranet_keras.data.manifest import write_manifest
    from dranet_keras.data.records import Split

    def load_model(path):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(loading, "load_dranet", load_model)
    records = records or [Record(f"{i}.jpg", i % 5, i % 2) for i in range(40)]
    write_manifest(Split([], records[:10], records[10:]), tmp_path / "manifest.csv")
    config = {"num_ids": 5, "input_shape": list(input_shape), "reduce_dim": 1024}
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "DRANet", "registered_name": "dranet_keras>DRANet", "config": config}))
    (tmp_path / "params.yaml").write_text(params)
    code = main(["evaluate", "--params", str(tmp_path / "params.yaml"), "--model", str(tmp_path / "model.keras"),
                 "--manifest", str(tmp_path / "manifest.csv"), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    return error


def test_too_large_rerank_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    error = _refusal_before_the_model_loads(tmp_path, capsys, monkeypatch, "eval: {rerank_max_hours: 1.0e-12}\n")
    assert "re-ranking 10 queries x 30 gallery images" in error and "eval.rerank=false" in error


def test_an_image_size_other_than_the_models_is_refused_before_it_loads(tmp_path, capsys, monkeypatch):
    error = _refusal_before_the_model_loads(tmp_path, capsys, monkeypatch, "model: {height: 64, width: 32}\n", input_shape=(128, 64, 3))
    assert "model.height/width: 64x32, but" in error and "was trained at 128x64" in error
    assert "--set model.height=128 --set model.width=64" in error


def test_a_gallery_without_a_cross_camera_match_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    # every gallery image of a query's identity is from the query's own camera
    records = [Record(f"q{i}.jpg", i, 0) for i in range(10)] + [Record(f"g{i}.jpg", i % 10, 0) for i in range(30)]
    error = _refusal_before_the_model_loads(tmp_path, capsys, monkeypatch, "{}\n", records=records)
    assert "manifest.csv: no query has a gallery image of its identity from another camera" in error


@pytest.mark.parametrize("text, expected", [("{", "stats.json: cannot read JSON"), ("[]", "stats.json: expected an object with the set's 'dataset' and 'root'"),
                                            ('{"dataset": "market1501"}', "stats.json: expected an object")])
def test_a_malformed_stats_json_beside_the_manifest_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, text, expected):
    (tmp_path / "stats.json").write_text(text)
    error = _refusal_before_the_model_loads(tmp_path, capsys, monkeypatch, "{}\n")
    assert expected in error and "dranet prepare" in error


def test_missing_model_is_one_line_error(tmp_path, capsys):
    from dranet_keras.cli import main

    (tmp_path / "params.yaml").write_text("{}\n")
    code = main(["evaluate", "--params", str(tmp_path / "params.yaml"), "--model", str(tmp_path / "none.keras")])
    assert code == 2
    assert "none.keras does not exist" in capsys.readouterr().err
