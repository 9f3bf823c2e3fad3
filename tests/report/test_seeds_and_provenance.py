"""Several seeds (mean ± std and what the spread means), the reference rows, and the provenance
section: one row per stage run, reproduce commands that give back each run's configuration."""

from __future__ import annotations

import json
import shlex

import numpy as np

from dranet_keras.cli import build_parser
from dranet_keras.config import config_from_dict, config_to_dict, load_config
from dranet_keras.report.render import build_context, render_html

from .html_cells import find_cell, table_cells
from .pipeline_fixtures import METRICS, PAPER_RESULTS, REFERENCE_METRICS, SEED_SHIFT


def render(root):
    context = build_context(root=root, results_dir=root / "results", models_dir=root / "models", paper_results=PAPER_RESULTS,
                            params_path=root / "params.yaml", dataset="synthetic", seed=0)
    return context, render_html(context)


def test_three_seeds_show_mean_and_std_and_flag_gains_within_the_spread(pipeline_outputs):
    _, html = render(pipeline_outputs(seeds=(0, 1, 2)))
    cells = table_cells(html)
    # baseline mAP over seeds: 0.52, 0.54, 0.51 -> mean 0.52333, sample std 0.015275
    cell = find_cell(cells, "ablation", variant="baseline", metric="mAP")
    assert cell["text"] == "52.3 ± 1.5"
    assert float(cell["attrs"]["data-value"]) == np.mean([METRICS["baseline"]["mAP"] + s for s in SEED_SHIFT])
    assert "ours: baseline (3 seeds)" in html
    # Every variant has the same shifts, so std is 1.5 points everywhere; the dra - baseline mAP
    # gain is 3.0 (beyond it), the rank-1 gain 71.2 - 70.0 = 1.2 (within it).
    gains = {c["row"].get("data-metric"): c for c in cells
             if c["table"].get("class") == "headline" and c["row"].get("data-rerank") == "false" and c["text"].startswith(("+", "-"))}
    assert gains["mAP"]["text"] == "+3.0"
    assert gains["rank1"]["text"] == "+1.2 (within the seed spread)"
    # only a gain beyond the spread is coloured
    assert gains["mAP"]["attrs"].get("class") == "gain-pos" and gains["rank1"]["attrs"].get("class", "") == ""
    assert "the spread across seeds is unknown" not in html
    assert "a difference between two variants smaller than it is not a gain" in html


def test_one_seed_says_the_spread_is_unknown(pipeline_outputs):
    _, html = render(pipeline_outputs())
    assert "One training seed per variant" in html and "seeds=[0,1,2]" in html
    cells = table_cells(html)
    assert find_cell(cells, "ablation", variant="dra", metric="mAP")["text"] == "55.0"  # no ±
    gains = [c for c in cells if c["table"].get("class") == "headline" and c["text"].startswith(("+", "-"))]
    assert gains and not any(c["attrs"].get("class") for c in gains)  # no colour: no evidence of a gain
    assert "the spread across seeds is unknown, so no difference in this table is evidence of a gain" in html


def test_reference_rows_beside_the_variants(pipeline_outputs):
    _, html = render(pipeline_outputs())
    cells = table_cells(html)
    for name, values in REFERENCE_METRICS.items():
        for key in ("mAP", "rank1", "mINP"):
            assert float(find_cell(cells, "ablation", variant=name, metric=key)["attrs"]["data-value"]) == values[key]
    assert find_cell(cells, "ablation", variant="colour_histogram", metric="mAP")["text"] == "31.0"
    assert find_cell(cells, "ablation", variant="chance", metric="rank1")["text"] == "2.0"
    assert find_cell(cells, "ablation", variant="chance", metric="rerank.mAP")["text"] == "—"
    labels = [c["text"] for c in cells if c["table"].get("class") == "ablation" and c["row"].get("class") == "reference" and c["attrs"].get("class") == "label"]
    assert labels == ["colour histogram (hand-crafted, no training)", "chance (random ranking)"]


def test_reproduce_commands_give_back_each_runs_effective_config(pipeline_outputs):
    # The runs used params.yaml plus --set train.epochs=9 (and --set seed=k from the pipeline),
    # a path and a string that YAML would read as a number unless quoted.
    effective = config_to_dict(config_from_dict(
        {"data": {"name": "synthetic", "root": "01"}, "model": {"weights": "models/pretrain/backbone.weights.h5"}, "train": {"epochs": 9}}))
    root = pipeline_outputs(seeds=(0, 1), variants=("baseline", "dra"), config=effective)
    context, html = render(root)
    rows = context["provenance"]["stage_runs"]
    assert [(r["stage"], r["run"]) for r in rows] == [
        (stage, f"{variant}, seed {seed}") for variant in ("baseline", "dra") for seed in (0, 1) for stage in ("train", "evaluate")
    ] + [("reference", "colour histogram, chance")]
    for row in rows:
        words = shlex.split(row["command"])
        args = build_parser().parse_args(words[1:])
        seed = 0 if row["stage"] == "reference" else int(row["run"][-1])
        assert config_to_dict(load_config(args.params, args.overrides)) == {**effective, "seed": seed}, row["command"]
        assert "--set train.epochs=9" in row["command"] and ("--set seed=1" in row["command"]) == (seed == 1)
        assert "--set model.weights=models/pretrain/backbone.weights.h5" in row["command"]  # plain when exact
        assert """--set 'data.root="01"'""" in row["command"]  # quoted when YAML would read a number
    train = next(r for r in rows if r["stage"] == "train")
    assert train["settings"].startswith("256x128, 9 epochs, batch 64") and train["versions"] == "tensorflow 2.21.0, keras 3.12.0"
    row = [c["text"] for c in table_cells(html) if c["row"].get("data-stage") == "train" and c["row"].get("data-run") == "dra, seed 1"]
    assert row == ["train", "dra, seed 1", "256x128, 9 epochs, batch 64, adamw lr 0.00035, auto, seed 1", "12 s", "tensorflow 2.21.0, keras 3.12.0"]
    assert rows[0]["command"] in html.replace("&#39;", "'").replace("&#34;", '"')


def test_dvc_hashes_and_params_are_folded_away(pipeline_outputs):
    root = pipeline_outputs()
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: dranet prepare\n    outs:\n    - path: m.csv\n      md5: 0123456789abcdef0123456789abcdef\n")
    _, html = render(root)
    start, end = html.index('<details class="dvc">'), html.index("</details>", html.index('<details class="dvc">'))
    assert start < html.index("0123456789abcdef0123456789abcdef") < end
    assert html.index('<details class="params">') < html.index("data:\n  name:")
    assert "not recorded" in html  # the fixture's runs here carry no effective configuration
    assert "pre-trained" not in html  # no models/pretrain/train_meta.json


def test_pretrain_run_is_a_provenance_row_and_explains_the_epochs(pipeline_outputs):
    effective = config_to_dict(config_from_dict({"data": {"name": "synthetic"}, "pretrain": {"epochs": 12}}))
    root = pipeline_outputs(variants=("dra",), config=effective)
    (root / "models" / "pretrain").mkdir()
    (root / "models" / "pretrain" / "train_meta.json").write_text(json.dumps(
        {"variant": "baseline", "epochs": 12, "wall_time_s": 40.0, "config": {**effective, "train": {**effective["train"], "epochs": 12}}}))
    context, html = render(root)
    row = context["provenance"]["stage_runs"][0]
    assert (row["stage"], row["run"], row["wall_time_s"]) == ("pretrain", "baseline", 40.0)
    assert row["command"] == "dranet pretrain --params " + str(root / "params.yaml") + " --set train.epochs=12 --set pretrain.epochs=12"
    assert "starts from the baseline pre-trained 12 epochs" in html
