"""benchmarks/: measured tables go into their block of a Markdown file with their provenance;
the demo's tables come from the files the stages wrote."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.report.pipeline_fixtures import write_outputs

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_tables():
    spec = importlib.util.spec_from_file_location("tables", BENCHMARKS / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_publish_replaces_only_its_own_block_and_appends_a_new_one(tmp_path, capsys):
    tables = load_tables()
    doc = tmp_path / "bench.md"
    doc.write_text("# B\n\n<!-- table: a -->\nold a\n<!-- end: a -->\n\nprose\n\n<!-- table: b -->\nold b\n<!-- end: b -->\n")
    tables.publish("a", ["x", "y"], [[1, 2.5]], doc=doc, load_at_start=0.5, note="A note.")
    tables.publish("c", ["z"], [["q"]], doc=doc, load_at_start=0.5)
    text = doc.read_text()
    assert "old a" not in text and "old b" in text and "prose" in text
    assert "<!-- table: a -->\n| x | y |\n|---|---|\n| 1 | 2.50 |\n\nA note.\n\nMachine: " in text
    assert text.rstrip().endswith("<!-- end: c -->") and text.count("<!-- table: a -->") == 1
    assert "load average 0.5 at the start" in text and f"commit {tables.commit()}" in text and "| 1 | 2.50 |" in capsys.readouterr().out


def test_demo_results_tables_from_the_pipeline_outputs(tmp_path):
    repo = write_outputs(tmp_path, variants=("baseline", "dra"), seeds=(0, 1), images=False)
    (repo / "params.yaml").write_text("variants: [baseline, dra]\nseeds: [0, 1]\nmodel: {height: 64, width: 32}\n")
    (repo / "models" / "pretrain").mkdir()
    (repo / "models" / "pretrain" / "train_meta.json").write_text(json.dumps({"epochs": 12, "wall_time_s": 165.0}))
    doc = tmp_path / "results.md"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "demo_results.py"), "--repo", str(repo), "--doc", str(doc)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = doc.read_text()
    # the fixture's baseline mAP: 0.52 (seed 0), 0.54 (seed 1): mean 53.0 %, sample std 1.4; re-ranked 0.60 both
    assert "| `baseline` (2 seeds) | 53.0 ± 1.4 | " in text and "| 60.0 ± 0.0 |" in text
    assert "| chance | 3.2 | 2.0 | 10.0 | 19.0 | 1.0 | - |" in text
    assert "| pretrain | 12 | 165.00 | - |" in text and "| train + evaluate `dra` (per seed) | 5 | 12.50 | 3.00 |" in text
    assert "24 queries x 72 gallery images, 64x32, seeds [0, 1]" in text


def load_script(monkeypatch, name: str):
    """benchmarks/<name>.py as a module (the scripts import their siblings: tables, batch_norm_sides)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_step_variants_options_default_to_every_variant_at_both_sizes(monkeypatch):
    from dranet_keras.choices import VARIANTS

    model_step = load_script(monkeypatch, "model_step")
    args = model_step.parse_args(["--compare", "variants"])
    assert args.variants == list(VARIANTS) and args.sizes == [(256, 128), (64, 32)]  # params.yaml's model size
    assert (args.batch, args.steps, args.warmup, args.precision) == (16, 3, 1, "float32")
    args = model_step.parse_args(["--compare", "variants", "--variants", "baseline,dra", "--sizes", "64x32", "--steps", "1"])
    assert args.variants == ["baseline", "dra"] and args.sizes == [(64, 32)] and args.steps == 1
    assert model_step.parse_args([]).steps == 5  # the precision comparison keeps its own defaults


def test_model_step_variants_table_from_the_workers_json(monkeypatch):
    model_step = load_script(monkeypatch, "model_step")

    def cell(img_s, rss_gib, params=1234567):
        return {"params": params, "img_s": img_s, "max_rss_kib": rss_gib * 2**20, "tracing_s": 1.0, "step_s": 16 / img_s}

    cells = {("baseline", (256, 128), "keras-bn"): cell(2.0, 3.0), ("baseline", (256, 128), "fused"): cell(3.0, 2.5),
             ("baseline", (64, 32), "keras-bn"): cell(20.0, 1.5), ("baseline", (64, 32), "fused"): cell(25.0, 1.25),
             ("dra", (64, 32), "keras-bn"): cell(10.0, 2.0, 2000000), ("dra", (64, 32), "fused"): cell(15.0, 2.0, 2000000)}
    rows = model_step.variant_rows(cells)
    assert rows == [["`baseline`", "256x128", "1,234,567", 2.0, 3.0, 1.5, "3.00", "2.50"],
                    ["`baseline`", "64x32", "1,234,567", 20.0, 25.0, 1.25, "1.50", "1.25"],
                    ["`dra`", "64x32", "2,000,000", 10.0, 15.0, 1.5, "2.00", "2.00"]]
    assert len(model_step.VARIANT_COLUMNS) == len(rows[0])


def test_demo_time_splits_the_printed_lines_into_stages_and_training_phases(monkeypatch):
    demo_time = load_script(monkeypatch, "demo_time")
    lines = [(0.0, "Running stage 'prepare':"), (5.0, "Running stage 'train@dra-0':"), (20.0, "Epoch 1/3"), (30.0, " 9/18 - loss: 2.1"),
             (40.0, "18/18 - loss: 2.0 - lr: 0.001"), (41.0, "Epoch 2/3"), (50.0, "18/18 - lr: 0.001"), (52.0, "Epoch 3/3"),
             (60.0, "18/18 - lr: 0.0001"), (70.0, "Running stage 'report':")]
    stages = demo_time.stage_phases(lines, total=80.0)
    assert stages["prepare"] == {"wall": 5.0} and stages["report"] == {"wall": 10.0}
    # start-up 5 -> 20; epoch 1 20 -> 41; epochs 2 and 3: 41 -> 52 and 52 -> 60; the end 60 -> 70
    assert stages["train@dra-0"] == {"wall": 65.0, "start-up": 15.0, "epoch 1": 21.0, "later epochs": 9.5, "end": 10.0}


def precision_figures(maps: dict[str, list[float]], pretrain_s: float, train_s: float) -> dict:
    """demo_precision's figures for one precision: mAP per variant and seed, equal seconds per run."""
    runs = {f"{variant}/{seed}": {"mAP": value, "train_s": train_s, "evaluate_s": 5.0}
            for variant, values in maps.items() for seed, value in enumerate(values)}
    return {"seeds": [0, 1, 2], "commit": "abc1234", "load_at_start": 0.5, "variants": list(maps), "pretrain_s": pretrain_s, "wall_s": 600.0, "runs": runs}


def test_demo_precision_decides_by_the_rule_fixed_before_the_runs(monkeypatch):
    demo_precision = load_script(monkeypatch, "demo_precision")
    fp32 = precision_figures({"baseline": [0.40, 0.42, 0.44], "dra": [0.50, 0.50, 0.53]}, pretrain_s=100.0, train_s=50.0)
    # training 100 + 6 x 50 = 400 s in fp32 against 60 + 6 x 40 = 300 s in bf16: 1.33x, clearly faster
    # baseline: bf16 - fp32 = +1, +1, +1 points (fp32 s.d. 2.0); dra: -1, +1, -3: mean -1, fp32 s.d. 1.73
    bf16 = precision_figures({"baseline": [0.41, 0.43, 0.45], "dra": [0.49, 0.51, 0.50]}, pretrain_s=60.0, train_s=40.0)
    rows, times, decision = demo_precision.decide(fp32, bf16)
    assert rows[0] == ["`baseline`", "40.0 / 42.0 / 44.0", "41.0 / 43.0 / 45.0", "+1.00 [+1.00, +1.00]", "2.00", "yes"]
    assert rows[1][0] == "`dra`" and rows[1][3].startswith("-1.00 [") and rows[1][4:] == ["1.73", "yes"]
    assert times == [["float32", "100", "400", "30", "600"], ["mixed_bfloat16", "60", "300", "30", "600"]]
    assert "**1.33x**" in decision and decision.endswith("the demo trains in **`auto` (mixed bfloat16 here)**.")
    # one variant outside its seed spread keeps float32, however fast bf16 is
    bf16["runs"]["dra/2"]["mAP"] = 0.44  # dra: -1, +1, -9: mean -3 against s.d. 1.73
    rows, _, decision = demo_precision.decide(fp32, bf16)
    assert rows[1][5] == "**no**" and decision.endswith("the demo trains in **float32**.")
    # equal retrieval but under 1.10x: float32
    slow = precision_figures({"baseline": [0.40, 0.42, 0.44], "dra": [0.50, 0.50, 0.53]}, pretrain_s=95.0, train_s=48.0)
    assert demo_precision.decide(fp32, slow)[2].endswith("the demo trains in **float32**.")
