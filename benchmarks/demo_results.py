"""The pipeline's figures as tables in docs/results.md: after `make demo` (or any `dvc repro` /
`dvc exp run`), the ablation (mAP, rank-1/5/10, mINP, re-ranked mAP; mean ± std over seeds with
several) and each stage's wall time, read from the files the stages wrote (metrics.json,
train_meta.json). Nothing is re-run.

    .venv/bin/python benchmarks/demo_results.py [--repo .] [--doc docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import yaml
from tables import ROOT, publish  # benchmarks/tables.py (scripts run as files)

from dranet_keras import layout

COLUMNS = ("mAP", "rank1", "rank5", "rank10", "mINP")


def cell(values: list[float]) -> str:
    """Percent, with ± the standard deviation over seeds when there are several."""
    mean = 100 * statistics.mean(values)
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository the pipeline ran in (default: this one)")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    params = yaml.safe_load((args.repo / "params.yaml").read_text())
    results, models = args.repo / layout.RESULTS_ROOT, args.repo / layout.MODELS_ROOT
    ablation, times = [], []
    meta = json.loads((layout.pretrain_dir(models) / layout.TRAIN_META).read_text())
    times.append(["pretrain", meta["epochs"], meta["wall_time_s"], "-"])
    for variant in params["variants"]:
        runs = [json.loads((layout.results_dir(variant, seed, results) / layout.METRICS).read_text()) for seed in params["seeds"]]
        metas = [json.loads((layout.model_dir(variant, seed, models) / layout.TRAIN_META).read_text()) for seed in params["seeds"]]
        reranked = [run["rerank"]["mAP"] for run in runs if run["rerank"]]
        ablation.append([f"`{variant}` ({len(runs)} seed{'s' * (len(runs) > 1)})", *(cell([run[key] for run in runs]) for key in COLUMNS),
                         cell(reranked) if reranked else "-"])
        times.append([f"train + evaluate `{variant}` (per seed)", metas[0]["epochs"], statistics.mean(m["wall_time_s"] for m in metas),
                      statistics.mean(run["wall_time_s"] for run in runs)])
    for name in layout.REFERENCES:
        run = json.loads((layout.reference_dir(name, results) / layout.METRICS).read_text())
        ablation.append([name.replace("_", " "), *(cell([run[key]]) for key in COLUMNS), cell([run["rerank"]["mAP"]]) if run.get("rerank") else "-"])
    first = json.loads((layout.results_dir(params["variants"][0], params["seeds"][0], results) / layout.METRICS).read_text())
    note = (f"`{first['dataset']}`, {first['num_query']} queries x {first['num_gallery']} gallery images, "
            f"{params['model']['height']}x{params['model']['width']}, seeds {params['seeds']}; in %.")
    publish("demo_ablation", ["model", "mAP", "rank-1", "rank-5", "rank-10", "mINP", "mAP re-ranked"], ablation,
            doc=args.doc, load_at_start=load, note=note)
    publish("demo_stage_times", ["stage", "epochs", "training s", "evaluation s"], times, doc=args.doc, load_at_start=load,
            note="Wall times the stages recorded (train_meta.json, metrics.json `wall_time_s`), TensorFlow start-up not counted.")


if __name__ == "__main__":
    main()
