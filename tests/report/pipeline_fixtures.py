"""Fixture pipeline outputs as the stages write them: results/<variant>/seed<k>/{metrics.json,
cmc.csv, rankings.json}, models/<variant>/seed<k>/{training_log.csv, train_meta.json},
results/<reference>/metrics.json, small PNG images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PAPER_RESULTS = REPO / "experiments" / "paper_results.yaml"

# Hand-picked metrics (fractions): dra beats baseline by 3.0 mAP points (0.55 - 0.52).
METRICS = {
    "baseline": {"mAP": 0.52, "mINP": 0.21, "rank1": 0.70, "rank5": 0.85, "rank10": 0.90, "rank20": 0.95,
                 "rerank": {"mAP": 0.60, "mINP": 0.30, "rank1": 0.74, "rank5": 0.86, "rank10": 0.91, "rank20": 0.95}},
    "cic": {"mAP": 0.534, "mINP": 0.22, "rank1": 0.705, "rank5": 0.851, "rank10": 0.902, "rank20": 0.95, "rerank": None},
    "sic": {"mAP": 0.541, "mINP": 0.23, "rank1": 0.71, "rank5": 0.853, "rank10": 0.903, "rank20": 0.95, "rerank": None},
    "dra": {"mAP": 0.55, "mINP": 0.24, "rank1": 0.712, "rank5": 0.86, "rank10": 0.905, "rank20": 0.96,
            "rerank": {"mAP": 0.63, "mINP": 0.33, "rank1": 0.76, "rank5": 0.87, "rank10": 0.92, "rank20": 0.96}},
}


def person_image(pid: int, seed: int, size=(64, 128)) -> Image.Image:
    """A tiny synthetic 'person': noisy background, a body rectangle in a pid-specific colour."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = rng.integers(90, 160, size=(height, width, 3), dtype=np.uint8)
    colour = np.array([(pid * 67) % 256, (pid * 131) % 256, (pid * 199) % 256], dtype=np.uint8)
    image[height // 6 : height - height // 8, width // 4 : width - width // 4] = colour
    image[height // 16 : height // 6, width // 3 : width - width // 3] = (230, 190, 160)  # head
    return Image.fromarray(image)


# The references' metrics (fractions): a colour histogram and chance.
REFERENCE_METRICS = {
    "colour_histogram": {"mAP": 0.31, "mINP": 0.08, "rank1": 0.43, "rank5": 0.6, "rank10": 0.7, "rank20": 0.8,
                         "rerank": {"mAP": 0.35, "mINP": 0.1, "rank1": 0.45, "rank5": 0.6, "rank10": 0.7, "rank20": 0.8}},
    "chance": {"mAP": 0.032, "mINP": 0.01, "rank1": 0.02, "rank5": 0.1, "rank10": 0.19, "rank20": 0.33, "rerank": None},
}
# Added to the metrics of seed k (k = 0, 1, ...): seed k of a variant scores METRICS + SEED_SHIFT[k].
SEED_SHIFT = (0.0, 0.02, -0.01)
CONFIG = {"seed": 0, "model": {"height": 64, "width": 32}, "train": {"epochs": 5}}


def write_outputs(root: Path, variants=("baseline", "cic", "sic", "dra"), dataset="synthetic", synthetic=True, images=True,
                  seeds=(0,), references=True, config=None) -> Path:
    """Write fixture pipeline outputs for `variants` x `seeds` under `root`; returns root.
    `config`: the effective configuration (a full config_to_dict) the stage runs record."""
    root = Path(root)
    paths = []
    if images:
        image_dir = root / "data" / "raw" / "fixture"
        image_dir.mkdir(parents=True, exist_ok=True)
        for index in range(24):
            path = image_dir / f"{index // 3:04d}_c{index % 3}_{index:03d}.png"
            person_image(index // 3, index).save(path)
            paths.append(path.relative_to(root).as_posix())
    recorded = {} if config is None else {"config": config}
    for variant, seed in ((v, s) for v in variants for s in seeds):
        run_dir, model_dir = root / "results" / variant / f"seed{seed}", root / "models" / variant / f"seed{seed}"
        run_dir.mkdir(parents=True)
        model_dir.mkdir(parents=True)
        shifted = {key: value + SEED_SHIFT[seed] if key != "rerank" else value for key, value in METRICS[variant].items()}
        metrics = {"dataset": dataset, "synthetic": synthetic, "variant": variant, "seed": seed, "protocol": "market",
                   "num_query": 24, "num_gallery": 72, "skipped_queries": 0, **shifted, "wall_time_s": 3.0,
                   **({"config": {**config, "seed": seed}} if config else {})}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        ranks = np.arange(1, 21)
        cmc = np.minimum(1.0, METRICS[variant]["rank1"] + 0.015 * (ranks - 1))
        (run_dir / "cmc.csv").write_text("rank,accuracy\n" + "".join(f"{r},{a:.4f}\n" for r, a in zip(ranks, cmc, strict=True)))
        if paths:
            queries = []
            for q in range(3):
                query_pid = q
                top = []
                for k in range(10):
                    g = (q * 5 + k * 7) % len(paths)
                    gallery_pid = g // 3
                    top.append({"index": g, "path": paths[g], "pid": gallery_pid, "camid": g % 3,
                                "distance": 0.1 + 0.05 * k, "match": gallery_pid == query_pid})
                queries.append({"path": paths[q * 3], "pid": query_pid, "camid": 0, "top": top})
            (run_dir / "rankings.json").write_text(json.dumps({"queries": queries}))
        epochs = np.arange(1, 6)
        shift = 0.1 * list(METRICS).index(variant)  # curves that differ between variants
        log = "epoch,loss,ce_b,accuracy,lr\n" + "".join(
            f"{e},{3.0 / e + shift:.3f},{2.0 / e:.3f},{0.18 * e - shift / 2:.2f},0.00035\n" for e in epochs)
        (model_dir / "training_log.csv").write_text(log)
        (model_dir / "train_meta.json").write_text(json.dumps(
            {"variant": variant, "dataset": dataset, "epochs": 5, "wall_time_s": 12.5, "num_ids": 8, "seed": seed,
             "versions": {"tensorflow": "2.21.0", "keras": "3.12.0"}, **({"config": {**config, "seed": seed}} if config else {})}))
    if references:
        for name, values in REFERENCE_METRICS.items():
            (root / "results" / name).mkdir(parents=True)
            (root / "results" / name / "metrics.json").write_text(json.dumps(
                {"dataset": dataset, "synthetic": synthetic, "variant": name, "protocol": "market", **values, **recorded}))
    (root / "params.yaml").write_text(f"seed: 0\ndata:\n  name: {json.dumps(dataset)}\n")
    return root

