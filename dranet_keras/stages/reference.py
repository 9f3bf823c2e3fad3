"""Score the references a learned model must beat, on the same split and with the same ranking
code as `dranet evaluate`: the hand-crafted colour-histogram descriptor
(results/colour_histogram/) and chance, random rankings (results/chance/metrics.json)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


from dranet_keras import layout
from dranet_keras.config import config_to_dict, load_config
from dranet_keras.data.synthetic import query_attributes
from dranet_keras.evaluation.chance import chance_metrics
from dranet_keras.evaluation.results import evaluate_embeddings, record_labels, write_results
from dranet_keras.io import atomic_write_json

CHANCE_DRAWS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", help="split manifest (default: <data.prepared_dir>/<data.name>/manifest.csv)")
    parser.add_argument("--results-dir", default=layout.RESULTS_ROOT, help=f"where results/<reference>/ go (default: {layout.RESULTS_ROOT})")


def run(args: argparse.Namespace) -> int:
    from dranet_keras.data.manifest import dataset_header, prepared_set, read_manifest
    from dranet_keras.evaluation.handcrafted import image_descriptors

    config = load_config(args.params, args.overrides)
    manifest = Path(args.manifest or layout.manifest_path(config.data.name, config.data.prepared_dir))
    split = read_manifest(manifest)
    prepared = prepared_set(manifest, config.data.name, config.data.root)
    evaluation, results = config.eval, Path(args.results_dir)
    start = time.perf_counter()
    features = [image_descriptors([r.path for r in records], skip_corrupt=config.data.skip_corrupt) for records in (split.query, split.gallery)]
    metrics, cmc, rankings = evaluate_embeddings(
        *features,
        split.query,
        split.gallery,
        **evaluation.ranking_arguments(),
        seed=config.seed,
        query_attributes=query_attributes(prepared.root, split.query) if prepared.synthetic else None,
    )
    common = dataset_header(prepared.name)
    effective = config_to_dict(config)
    histogram = {**common, "variant": "colour_histogram", **metrics, "wall_time_s": round(time.perf_counter() - start, 1), "config": effective}
    write_results(layout.reference_dir("colour_histogram", results), histogram, cmc, rankings)
    chance = chance_metrics(*record_labels(split.query, split.gallery), max_rank=evaluation.max_rank, protocol=evaluation.protocol, draws=CHANCE_DRAWS,
                            memory_gb=evaluation.memory_gb, seed=config.seed)
    chance = {**common, "variant": "chance", "protocol": evaluation.protocol, "draws": CHANCE_DRAWS, **chance, "rerank": None, "config": effective}
    atomic_write_json(layout.reference_dir("chance", results) / layout.METRICS, chance)
    print(
        f"dranet reference: colour histogram mAP {histogram['mAP']:.4f}, rank-1 {histogram['rank1']:.4f}; "
        f"chance mAP {chance['mAP']:.4f}, rank-1 {chance['rank1']:.4f} -> {results}"
    )
    return 0
